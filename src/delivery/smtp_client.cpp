// One client transaction toward an SMTP or LMTP next hop. Every failure becomes a reply
// with an enhanced status code: connection trouble is 4.4.x (the sender retries), the
// next hop's own refusals are passed on with their code.
#include "delivery/smtp_client.h"

#include <fmt/format.h>

#include <memory>
#include <optional>

#include "delivery/growing_body.h"
#include "net/transport.h"
#include "smtp/data_decoder.h"
#include "smtp/line_buffer.h"
#include "util/strings.h"

namespace mailseal::delivery {

namespace asio = net::asio;
using smtp::make_reply;
using smtp::Reply;

namespace {

// Thrown inside a transaction to end it with a reply for every recipient.
struct Abort {
  Reply reply;
};

class ClientConversation {
 public:
  explicit ClientConversation(ClientSession& s) : s_(s) {}

  net::Transport& transport() { return *s_.transport; }
  net::awaitable<smtp::ParsedReply> read_reply(std::chrono::seconds timeout) {
    net::Transport& t = *s_.transport;
    t.expires_after(timeout);
    while (true) {
      smtp::ParsedReply r;
      std::size_t used = smtp::parse_reply(s_.input, r);
      if (used > 0) {
        s_.input.erase(0, used);
        if (r.code == 0) throw Abort{make_reply(451, "4.5.0", "Next hop sent a malformed reply")};
        got_reply_ = true;
        co_return r;
      }
      if (s_.input.size() > 64 * 1024)
        throw Abort{make_reply(451, "4.5.0", "Next hop reply too long")};
      char buf[8192];
      std::size_t n = co_await t.read_some(asio::buffer(buf));
      s_.input.append(buf, n);
    }
  }
  net::awaitable<void> send(std::string_view s, std::chrono::seconds timeout) {
    s_.transport->expires_after(timeout);
    co_await s_.transport->write(s);
  }
  void reset_input() { s_.input.clear(); }
  // A reply was read in this conversation (on a reused session: the next hop was there).
  bool got_reply() const { return got_reply_; }

 private:
  ClientSession& s_;
  bool got_reply_ = false;
};

Reply from_next_hop(const smtp::ParsedReply& r, std::string_view stage) {
  std::string enhanced = r.enhanced;
  if (enhanced.empty()) enhanced = r.code >= 500 ? "5.0.0" : r.code >= 400 ? "4.0.0" : "2.0.0";
  std::string text =
      r.code >= 400 ? fmt::format("Next hop refused {}: {}", stage, util::printable(r.text, 300))
                    : util::printable(r.text, 300);
  return make_reply(r.code, enhanced, text);
}

// True if the trace prefix or the body has a byte outside US-ASCII (RFC 6152: such a
// message may only go to a next hop that announces 8BITMIME).
bool has_8bit(std::string_view prefix, const core::MessageBody& body) {
  auto any_8bit = [](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (static_cast<unsigned char>(p[i]) >= 0x80) return true;
    return false;
  };
  if (any_8bit(prefix.data(), prefix.size())) return true;
  auto reader = body.reader();
  char buf[64 * 1024];
  for (long n; (n = reader.read(buf, sizeof buf)) > 0;)
    if (any_8bit(buf, static_cast<std::size_t>(n))) return true;
  return false;
}

ServerExtensions parse_extensions(const std::string& text) {
  ServerExtensions e;
  for (auto line : util::split(text, '\n')) {
    auto kw = util::to_lower(line.substr(0, line.find(' ')));
    if (kw == "pipelining")
      e.pipelining = true;
    else if (kw == "starttls")
      e.starttls = true;
    else if (kw == "8bitmime")
      e.eightbit = true;
    else if (kw == "smtputf8")
      e.smtputf8 = true;
    else if (kw == "size")
      e.size = true;
  }
  return e;
}

}  // namespace

SmtpNextHop::SmtpNextHop(core::NextHopConfig config, std::string hostname)
    : config_(std::move(config)),
      hostname_(std::move(hostname)),
      tls_(asio::ssl::context::tls_client) {
  if (config_.connection_cache_time.count() > 0 &&
      (config_.kind == core::NextHopKind::smtp || config_.kind == core::NextHopKind::lmtp))
    cache_ = std::make_unique<SessionCache>(config_.connection_cache_time, kMaxIdleSessions);
  tls_.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (config_.tls == core::TlsPolicy::verify) {
    if (config_.ca_file.empty())
      tls_.set_default_verify_paths();
    else
      tls_.load_verify_file(config_.ca_file.string());
  }
}

std::string SmtpNextHop::describe() const {
  return fmt::format("{} {}:{}", config_.kind == core::NextHopKind::lmtp ? "lmtp" : "smtp",
                     config_.host, config_.port);
}

net::awaitable<DeliveryResult> SmtpNextHop::deliver(const DeliveryRequest& request) {
  SmtpTarget target{config_.host, {}, config_.port, config_.tls_name, {}};
  auto outcome = co_await deliver_to(target, request);
  co_return std::move(outcome.result);
}

net::awaitable<SessionOutcome> SmtpNextHop::deliver_to(const SmtpTarget& target,
                                                       const DeliveryRequest& request) {
  auto executor = co_await asio::this_coro::executor;
  // Only the configured next hop's sessions are kept; MX delivery (resolved addresses,
  // DANE) opens one per message.
  const bool cacheable = cache_ && target.addresses.empty() && target.dane.empty();
  while (cacheable) {
    std::unique_ptr<ClientSession> cached = cache_->take();
    if (!cached) break;
    cached->transport->start_watchdog(executor);
    Transaction tx = co_await transact(*cached, request, true, true);
    if (tx.stale) {
      // Closed by the next hop while idle; nothing was delivered: the next session.
      cached->transport->close();
      continue;
    }
    if (tx.reusable) cache_->put(std::move(cached), executor);
    co_return std::move(tx.outcome);
  }
  auto session = std::make_unique<ClientSession>();
  session->transport = std::make_unique<net::Transport>(net::tcp::socket(executor));
  session->transport->start_watchdog();
  std::optional<Reply> failure = co_await open(*session, target);
  if (failure) {
    session->transport->close();
    co_return SessionOutcome{all_recipients(request, *failure), true};
  }
  Transaction tx = co_await transact(*session, request, false, cacheable);
  if (tx.reusable) cache_->put(std::move(session), executor);
  co_return std::move(tx.outcome);
}

net::awaitable<std::optional<Reply>> SmtpNextHop::open(ClientSession& session,
                                                       const SmtpTarget& target) {
  auto executor = co_await asio::this_coro::executor;
  const std::string where =
      fmt::format("{} {}:{}", config_.kind == core::NextHopKind::lmtp ? "lmtp" : "smtp",
                  target.host, target.port);
  const bool lmtp = config_.kind == core::NextHopKind::lmtp;
  net::Transport& t = *session.transport;
  ClientConversation conv(session);
  std::optional<Reply> failure;
  try {
    // Connect.
    t.expires_after(config_.connect_timeout);
    net::tcp::resolver resolver(executor);
    try {
      boost::system::error_code not_literal;
      const auto literal = asio::ip::make_address(target.host, not_literal);
      if (target.addresses.empty() && !not_literal) {
        // An address literal needs no lookup: asio's resolver would hand it to its own
        // thread for getaddrinfo and back, on every message.
        const net::tcp::endpoint endpoint(literal, target.port);
        co_await t.socket().async_connect(endpoint, net::use_awaitable);
      } else if (target.addresses.empty()) {
        auto endpoints = co_await resolver.async_resolve(target.host, std::to_string(target.port),
                                                         net::use_awaitable);
        co_await asio::async_connect(t.socket(), endpoints, net::use_awaitable);
      } else {
        std::vector<net::tcp::endpoint> endpoints;
        for (const auto& a : target.addresses)
          endpoints.emplace_back(asio::ip::make_address(a), target.port);
        co_await asio::async_connect(t.socket(), endpoints, net::use_awaitable);
      }
    } catch (const boost::system::system_error& e) {
      throw Abort{make_reply(451, "4.4.1",
                             fmt::format("Next hop {} not reachable ({}), try again later", where,
                                         t.timed_out() ? "connect timeout" : e.code().message()))};
    }
    auto greeting = co_await conv.read_reply(config_.command_timeout);
    if (greeting.code != 220) throw Abort{from_next_hop(greeting, "the connection")};

    auto hello = [&]() -> net::awaitable<smtp::ParsedReply> {
      const std::string line = fmt::format("{} {}\r\n", lmtp ? "LHLO" : "EHLO", hostname_);
      co_await conv.send(line, config_.command_timeout);
      co_return co_await conv.read_reply(config_.command_timeout);
    };
    auto ehlo = co_await hello();
    if (ehlo.code != 250) throw Abort{from_next_hop(ehlo, lmtp ? "LHLO" : "EHLO")};
    session.ext = parse_extensions(ehlo.text);

    // Secure TLSA records make TLS mandatory and authenticate the server (RFC 7672 2.2).
    const bool dane = !target.dane.empty();
    if (dane && !session.ext.starttls)
      throw Abort{make_reply(451, "4.7.5",
                             fmt::format("Next hop {} has DANE TLSA records but does not offer "
                                         "STARTTLS",
                                         where))};
    if ((config_.tls != core::TlsPolicy::none || dane) && session.ext.starttls) {
      co_await conv.send("STARTTLS\r\n", config_.command_timeout);
      auto r = co_await conv.read_reply(config_.command_timeout);
      if (r.code == 220) {
        conv.reset_input();
        t.expires_after(config_.command_timeout);
        try {
          std::string name = target.tls_name.empty() ? target.host : target.tls_name;
          // A named local, not a ?: temporary inside co_await: g++ 12 destroys such
          // temporaries wrongly in coroutines (free(): invalid pointer).
          const std::string verify_name =
              config_.tls == core::TlsPolicy::verify ? name : std::string();
          if (dane)
            co_await t.tls_client_handshake_dane(tls_, name, target.dane, name);
          else
            co_await t.tls_client_handshake(tls_, name, verify_name);
        } catch (const std::exception& e) {
          std::string why = dane ? "DANE authentication of " + where +
                                       " failed: " + t.dane().reason + " (" + e.what() + ")"
                                 : std::string("TLS with next hop failed: ") + e.what();
          throw Abort{make_reply(451, "4.7.5", why)};
        }
        ehlo = co_await hello();
        if (ehlo.code != 250) throw Abort{from_next_hop(ehlo, "EHLO after STARTTLS")};
        session.ext = parse_extensions(ehlo.text);
      } else if (config_.tls == core::TlsPolicy::verify || dane) {
        throw Abort{make_reply(451, "4.7.5", "Next hop refused STARTTLS and TLS is required")};
      }
    } else if (config_.tls == core::TlsPolicy::verify) {
      throw Abort{make_reply(451, "4.7.5", "Next hop does not offer STARTTLS and TLS is required")};
    }
  } catch (const Abort& a) {
    failure = a.reply;
  } catch (const boost::system::system_error& e) {
    std::string what = t.timed_out() ? std::string("timed out")
                                     : "dropped the connection (" + e.code().message() + ")";
    failure = make_reply(451, "4.4.2", fmt::format("Next hop {} {}, try again later", where, what));
  }
  co_return failure;
}

net::awaitable<SmtpNextHop::Transaction> SmtpNextHop::transact(ClientSession& session,
                                                               const DeliveryRequest& request,
                                                               bool reused, bool keep_open) {
  const bool lmtp = config_.kind == core::NextHopKind::lmtp;
  net::Transport& t = *session.transport;
  const ServerExtensions& ext = session.ext;
  ClientConversation conv(session);
  Transaction tx;
  bool mail_sent = false;
  std::optional<Reply> failure;
  try {
    const auto& env = *request.envelope;
    if (env.smtputf8 && !ext.smtputf8)
      throw Abort{make_reply(550, "5.6.7", "Next hop does not support SMTPUTF8 (RFC 6531 3.5)")};
    // No MIME downgrade: 8-bit content declared BODY=8BITMIME is refused rather than sent
    // as 8-bit to a next hop that did not announce 8BITMIME (RFC 6152 3).
    // Whether a copy still being written has 8-bit bytes is known once it is whole (a
    // copy given up is dropped in the DATA loop below).
    if (env.body_8bit && !ext.eightbit && request.growing) co_await request.growing->finished();
    if (env.body_8bit && !ext.eightbit && has_8bit(request.prefix, *request.body))
      throw Abort{make_reply(554, "5.6.3", "Next hop does not support 8BITMIME (RFC 6152 3)")};
    std::string mail = "MAIL FROM:<" + env.sender + ">";
    // SIZE is optional (RFC 1870): a copy still being written has no size yet.
    if (ext.size && !request.growing)
      mail += fmt::format(" SIZE={}", request.prefix.size() + request.body->size());
    if (env.body_8bit && ext.eightbit) mail += " BODY=8BITMIME";
    if (env.smtputf8) mail += " SMTPUTF8";
    mail += "\r\n";
    mail_sent =
        true;  // from here on, results are this server's answer, not a reason to try another

    // With PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920 3.1).
    std::vector<std::string> commands{mail};
    for (const auto& r : request.recipients) commands.push_back("RCPT TO:<" + r + ">\r\n");
    commands.push_back("DATA\r\n");
    std::vector<smtp::ParsedReply> replies;
    if (ext.pipelining) {
      std::string all;
      for (auto& c : commands) all += c;
      co_await conv.send(all, config_.command_timeout);
      for (std::size_t i = 0; i < commands.size(); ++i) {
        replies.push_back(co_await conv.read_reply(config_.command_timeout));
        // A kept session the next hop is closing (its idle timeout) answers 421 first.
        if (reused && i == 0 && replies[0].code == 421) break;
      }
    } else {
      for (auto& c : commands) {
        co_await conv.send(c, config_.command_timeout);
        replies.push_back(co_await conv.read_reply(config_.command_timeout));
        if (replies.size() == 1 && replies[0].code != 250) break;
      }
    }
    if (reused && replies[0].code == 421) {
      tx.stale = true;
      co_return tx;
    }
    if (replies[0].code != 250) throw Abort{from_next_hop(replies[0], "the sender")};

    DeliveryResult result;
    std::vector<std::string> accepted;
    for (std::size_t i = 0; i < request.recipients.size(); ++i) {
      const auto& rr = replies.size() > i + 1 ? replies[i + 1] : replies.back();
      if (rr.code / 100 == 2)
        accepted.push_back(request.recipients[i]);
      else
        result.recipients.push_back({request.recipients[i], from_next_hop(rr, "the recipient")});
    }
    const auto& data_reply = replies.back();
    if (accepted.empty()) {
      co_await conv.send("QUIT\r\n", config_.command_timeout);
      result.summary = result.recipients.empty() ? "" : result.recipients.front().reply.brief();
      t.close();
      tx.outcome = SessionOutcome{std::move(result), false};
      co_return tx;
    }
    if (data_reply.code != 354) throw Abort{from_next_hop(data_reply, "DATA")};

    // Stream the body, dot-stuffed, in 64 KB writes.
    smtp::DotStuffer stuffer;
    std::string out;
    stuffer.feed(request.prefix, out);
    auto reader = request.body->reader();
    constexpr std::size_t kChunk = 64 * 1024;
    auto chunk = std::make_unique_for_overwrite<char[]>(kChunk);  // not zeroed: read into
    while (true) {
      long n = reader.read(chunk.get(), kChunk);
      if (n < 0) throw Abort{make_reply(451, "4.3.0", "Cannot read the message body")};
      if (n == 0 && !request.growing) break;
      if (n == 0) {
        // The copy is still being sealed: send what there is, then wait for more. A copy
        // the filter gave up ends the transaction here, before the final dot.
        if (!out.empty()) {
          co_await conv.send(out, config_.data_timeout);
          out.clear();
        }
        GrowingBody::Next next = co_await request.growing->wait(reader.position());
        if (next == GrowingBody::Next::failed)
          throw Abort{make_reply(451, "4.3.0", "The message was not sealed")};
        if (next == GrowingBody::Next::end) break;
        continue;
      }
      stuffer.feed(std::string_view(chunk.get(), static_cast<std::size_t>(n)), out);
      if (out.size() >= 64 * 1024) {
        co_await conv.send(out, config_.data_timeout);
        out.clear();
      }
    }
    stuffer.finish(out);
    co_await conv.send(out, config_.data_timeout);

    // SMTP: one reply for the transaction; LMTP: one per accepted recipient (RFC 2033 4.2).
    bool closing = false;
    for (std::size_t i = 0; i < (lmtp ? accepted.size() : 1); ++i) {
      auto final_reply = co_await conv.read_reply(config_.data_timeout);
      closing |= final_reply.code == 421;
      Reply mapped = from_next_hop(final_reply, "the message");
      if (lmtp) {
        result.recipients.push_back({accepted[i], mapped});
      } else {
        for (auto& a : accepted) result.recipients.push_back({a, mapped});
      }
      if (result.summary.empty()) result.summary = mapped.brief();
    }
    tx.outcome = SessionOutcome{std::move(result), false};
    // Complete, nothing unread: the session can carry the next message.
    if (keep_open && !closing && session.input.empty() && !t.timed_out()) {
      ++session.transactions;
      tx.reusable = true;
      co_return tx;
    }
    try {
      co_await conv.send("QUIT\r\n", config_.command_timeout);
    } catch (...) {
    }
    t.close();
    co_return tx;
  } catch (const Abort& a) {
    failure = a.reply;
  } catch (const boost::system::system_error& e) {
    if (reused && !conv.got_reply() && !t.timed_out()) {
      tx.stale = true;  // closed while idle: reset or end of stream before any reply
    } else {
      std::string what = t.timed_out() ? std::string("timed out")
                                       : "dropped the connection (" + e.code().message() + ")";
      failure = make_reply(451, "4.4.2",
                           fmt::format("Next hop {} {}, try again later", describe(), what));
    }
  }
  // Outside the handlers: g++ 12 mis-destroys objects when a coroutine co_returns from a
  // catch block or a ?: temporary lives in a co_return (free(): invalid pointer seen
  // under load).
  t.close();
  if (failure) tx.outcome = SessionOutcome{all_recipients(request, *failure), !mail_sent};
  co_return tx;
}

}  // namespace mailseal::delivery
