// Relay: filter, deliver each copy, aggregate.
#include "server/relay.h"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "server/copy_stream.h"

namespace mailseal::server {

namespace asio = net::asio;

Relay::Relay(std::unique_ptr<delivery::NextHop> next_hop, core::MessageFilter* filter,
             asio::thread_pool& crypto_pool, QueueTarget spool, bool queue_mode)
    : next_hop_(std::move(next_hop)),
      filter_(filter),
      pool_(crypto_pool),
      spool_(spool),
      queue_mode_(queue_mode) {}

std::string Relay::describe() const {
  return queue_mode_ ? "queue (" + std::string(queue::lane_name(spool_.lane)) + ") -> " +
                           next_hop_->describe()
                     : next_hop_->describe();
}

namespace {

std::string joined(const std::vector<std::string>& ids) {
  std::string list;
  for (const auto& q : ids) list += (list.empty() ? "" : " ") + q;
  return list;
}

}  // namespace

net::awaitable<std::vector<std::string>> Relay::spool_copies(
    const core::Envelope& envelope, std::vector<queue::NewMessage> messages, const std::string& id,
    std::error_code& ec) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto& m = messages[i];
    m.id = messages.size() == 1 ? id : id + "." + std::to_string(i + 1);
    m.lane = spool_.lane;
    m.sender = envelope.sender;
    m.body_8bit = envelope.body_8bit;
    m.smtputf8 = envelope.smtputf8;
    ids.push_back(m.id);
  }
  // write + fsync block: on the pool, never on an I/O thread.
  auto home = co_await asio::this_coro::executor;
  auto on_pool = asio::bind_executor(pool_, asio::use_awaitable);
  co_await asio::post(on_pool);
  ec = spool_.spool->enqueue(messages);
  co_await asio::post(home, asio::use_awaitable);
  if (ec) {
    spdlog::error("msg id={} cannot queue: {}", id, ec.message());
    ids.clear();
    co_return ids;
  }
  spool_.scheduler->submit(ids);
  co_return ids;
}

net::awaitable<smtp::Reply> Relay::enqueue(const core::Envelope& envelope,
                                           std::vector<queue::NewMessage> messages,
                                           const std::string& id) {
  if (messages.empty()) co_return smtp::make_reply(451, "4.3.0", "No recipient could be queued");
  std::error_code ec;
  std::vector<std::string> ids = co_await spool_copies(envelope, std::move(messages), id, ec);
  if (ec) {
    if (ec == std::errc::no_space_on_device || ec == std::errc::file_too_large ||
        ec.value() == EDQUOT)
      co_return smtp::make_reply(452, "4.3.1", "Insufficient system storage, try again later");
    co_return smtp::make_reply(451, "4.3.0", "Cannot queue the message, try again later");
  }
  co_return smtp::make_reply(250, "2.0.0", "Ok: queued as " + joined(ids));
}

smtp::Reply aggregate_replies(const std::vector<delivery::RecipientResult>& results,
                              const std::string& id, const std::string& summary) {
  std::size_t accepted = 0;
  const smtp::Reply* first_transient = nullptr;
  const smtp::Reply* first_permanent = nullptr;
  for (const auto& r : results) {
    if (r.reply.positive())
      ++accepted;
    else if (r.reply.transient() && !first_transient)
      first_transient = &r.reply;
    else if (r.reply.permanent() && !first_permanent)
      first_permanent = &r.reply;
  }
  if (!results.empty() && accepted == results.size())
    return smtp::make_reply(250, "2.0.0", "Ok: " + id + " relayed (next hop: " + summary + ")");
  if (accepted == 0) {
    // A transient failure wins: the client retries the whole message later.
    if (first_transient) return *first_transient;
    if (first_permanent) return *first_permanent;
    return smtp::make_reply(451, "4.3.0", "No recipient could be delivered");
  }
  // Some recipients were taken by the next hop, others refused after we had accepted them
  // at RCPT. A failure reply now would duplicate the delivered copies, so the message is
  // answered 250 and the refused recipients are logged (proxy mode has no queue to bounce
  // from; see docs/ARCHITECTURE.md).
  for (const auto& r : results)
    if (!r.reply.positive())
      spdlog::warn("msg id={} recipient refused by next hop after acceptance: {}", id,
                   r.reply.brief());
  return smtp::make_reply(250, "2.0.0",
                          "Ok: " + id + " relayed to " + std::to_string(accepted) + " of " +
                              std::to_string(results.size()) + " recipients");
}

net::awaitable<RelayOutcome> Relay::relay(const core::Envelope& envelope,
                                          const core::ClientInfo& client,
                                          const core::MessageBody& body, std::string prefix,
                                          std::string id) {
  RelayOutcome outcome;
  std::vector<delivery::RecipientResult> results;
  std::string summary;
  if (!filter_ && queue_mode_) {
    std::vector<queue::NewMessage> messages(1);
    messages[0].recipients = envelope.recipients;
    messages[0].prefix = prefix;
    messages[0].body = &body;
    outcome.reply = co_await enqueue(envelope, std::move(messages), id);
    co_return outcome;
  }
  // Per copy delivered: the recipients the next hop did not take (for the spool below).
  std::vector<queue::NewMessage> refused;
  core::FilterResult filtered;
  auto note_refused = [&](const delivery::DeliveryResult& r, const core::MessageBody* copy) {
    queue::NewMessage m;
    for (const auto& x : r.recipients)
      if (!x.reply.positive()) m.recipients.push_back(x.recipient);
    if (m.recipients.empty()) return;
    m.prefix = prefix;
    m.body = copy;
    refused.push_back(std::move(m));
  };
  if (!filter_) {
    delivery::DeliveryRequest req{&envelope, envelope.recipients, prefix, &body, id};
    auto r = co_await next_hop_->deliver(req);
    note_refused(r, &body);
    results = std::move(r.recipients);
    summary = r.summary;
  } else {
    // Public-key work runs on the crypto pool; the I/O thread goes on serving others.
    // bind_executor matters: a plain post(pool_, use_awaitable) only passes through the
    // pool and resumes the coroutine on its own (I/O) executor.
    auto home = co_await asio::this_coro::executor;
    auto on_pool = asio::bind_executor(pool_, asio::use_awaitable);
    // A message that spilled to a file is large: its copies go to the next hop while they
    // are sealed (CopyStream). Small ones are sealed first, which spares the wake-ups.
    std::shared_ptr<CopyStream> stream;
    if (!queue_mode_ && body.spilled() && next_hop_->takes_growing_body()) {
      stream = std::make_shared<CopyStream>(home);
      asio::co_spawn(home, stream->deliver(*next_hop_, envelope, prefix, id), asio::detached);
    }
    co_await asio::post(on_pool);
    try {
      filtered = filter_->process(envelope, client, body, stream.get());
    } catch (const std::exception& e) {
      spdlog::error("msg id={} filter failed: {}", id, e.what());
      filtered.refusal =
          smtp::make_reply(451, "4.3.0", "Internal error while processing the message");
    }
    co_await asio::post(home, asio::use_awaitable);
    if (stream) {
      stream->filter_returned(!filtered.refusal);
      co_await stream->finished();
      if (!filtered.refusal)
        for (const auto& s : stream->sent()) {
          note_refused(s.result, s.body);
          for (const auto& x : s.result.recipients) results.push_back(x);
          if (summary.empty()) summary = s.result.summary;
        }
    }
    outcome.filter_summary = filtered.summary;
    if (filtered.refusal) {
      outcome.reply = *filtered.refusal;
      // A refusal may quote the message (a parser's complaint): keep it to one line;
      // Reply::wire() then replaces anything not printable ASCII.
      for (char& c : outcome.reply.text)
        if (c == '\n' || c == '\r') c = ' ';
      co_return outcome;
    }
    if (queue_mode_) {
      std::vector<queue::NewMessage> messages(filtered.copies.size());
      for (std::size_t i = 0; i < messages.size(); ++i) {
        messages[i].recipients = filtered.copies[i].recipients;
        messages[i].prefix = prefix;
        messages[i].body = &filtered.copies[i].body;
      }
      outcome.reply = co_await enqueue(envelope, std::move(messages), id);
      co_return outcome;
    }
    for (auto& copy : filtered.copies) {
      if (stream && stream->announced(copy.body)) continue;  // delivered while sealed
      delivery::DeliveryRequest req{&envelope, copy.recipients, prefix, &copy.body, id};
      auto r = co_await next_hop_->deliver(req);
      note_refused(r, &copy.body);
      for (auto& x : r.recipients) results.push_back(std::move(x));
      if (summary.empty()) summary = r.summary;
    }
  }
  outcome.next_hop_summary = summary;
  std::size_t accepted = 0;
  for (const auto& r : results) accepted += r.reply.positive() ? 1 : 0;
  if (accepted == 0 || refused.empty() || !spool_.spool) {
    outcome.reply = aggregate_replies(results, id, summary);
    co_return outcome;
  }
  // Partial delivery: the client may not be told "try again" (the delivered copies would
  // go twice) nor "done" for what the next hop refused. The refused recipients go to the
  // queue: retried, and bounced with a DSN (RFC 3464) if they keep failing.
  for (const auto& r : results)
    if (!r.reply.positive())
      spdlog::warn("msg id={} recipient refused by next hop after acceptance, queued for retry: {}",
                   id, r.reply.brief());
  std::error_code ec;
  std::vector<std::string> ids = co_await spool_copies(envelope, std::move(refused), id, ec);
  if (ec) {
    // Not in the spool: a temporary failure makes the client send again. The recipients
    // already served then get the message twice, which is better than not at all.
    spdlog::error(
        "msg id={} partial delivery and the refused recipients cannot be queued ({}): "
        "answering 451, the delivered recipients may receive it twice",
        id, ec.message());
    outcome.reply = smtp::make_reply(451, "4.3.0",
                                     "Partly delivered and cannot queue the rest, try again later");
    co_return outcome;
  }
  outcome.reply = smtp::make_reply(250, "2.0.0",
                                   "Ok: " + id + " relayed to " + std::to_string(accepted) +
                                       " of " + std::to_string(results.size()) +
                                       " recipients, the others queued as " + joined(ids));
  co_return outcome;
}

}  // namespace mailseal::server
