// Scheduler: index on a strand, attempts on the I/O executor, file work on the blocking
// pool. Every state change of a recipient is in its queue file before the attempt ends.
#include "queue/scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "queue/dsn.h"
#include "util/strings.h"

namespace mailseal::queue {

namespace asio = net::asio;

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return util::to_lower(at == std::string::npos ? std::string() : address.substr(at + 1));
}

std::string human_duration(std::int64_t s) {
  if (s >= 86400 && s % 86400 == 0) return fmt::format("{} days", s / 86400);
  if (s >= 3600) return fmt::format("{} hours", s / 3600);
  if (s >= 60) return fmt::format("{} minutes", s / 60);
  return fmt::format("{} seconds", s);
}

}  // namespace

std::int64_t backoff_seconds(const core::QueueConfig& config, int attempts) {
  std::int64_t b = config.retry_min.count();
  for (int i = 1; i < attempts && b < config.retry_max.count(); ++i) b *= 2;
  return std::min<std::int64_t>(b, config.retry_max.count());
}

AttemptPlan plan_after_attempt(const core::QueueConfig& config, QueueHeader& header,
                               std::int64_t now, std::vector<std::size_t>& expired) {
  AttemptPlan plan;
  expired.clear();
  const std::int64_t age = now - header.arrival;
  if (header.has_pending() && age >= config.lifetime.count()) {
    for (std::size_t i = 0; i < header.recipients.size(); ++i) {
      auto& r = header.recipients[i];
      if (r.state != RecipientState::pending) continue;
      r.state = RecipientState::failed;
      // Keep the last transient reply's class: the DSN says 4.4.7 plus what was heard.
      r.last_reply = fmt::format("450 4.4.7 Delivery time expired after {}{}{}",
                                 human_duration(config.lifetime.count()),
                                 r.last_reply.empty() ? "" : "; last reply: ", r.last_reply);
      expired.push_back(i);
    }
  }
  plan.send_failure_dsn = header.has_state(RecipientState::failed) && !header.sender.empty();
  plan.finished = !header.has_pending();
  if (!plan.finished) {
    plan.next_attempt = now + backoff_seconds(config, header.attempts);
    plan.send_delay_dsn = config.warn_after.count() > 0 && !header.warned &&
                          age >= config.warn_after.count() && !header.sender.empty();
  }
  return plan;
}

Scheduler::Scheduler(asio::io_context& io, Spool& spool, const core::QueueConfig& config,
                     std::array<LaneRoute, 2> routes, asio::thread_pool& blocking,
                     std::string hostname)
    : io_(io),
      strand_(asio::make_strand(io)),
      spool_(spool),
      config_(config),
      routes_(routes),
      blocking_(blocking),
      hostname_(std::move(hostname)),
      wake_(strand_) {}

void Scheduler::start() {
  load_from_disk();
  spdlog::info("queue: {} messages waiting in {}", entries_.size(), spool_.dir().string());
  asio::co_spawn(strand_, loop(), asio::detached);
}

void Scheduler::load_from_disk() {
  for (const auto& id : spool_.list(Folder::active)) {
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.in_flight) continue;
    std::string error;
    auto file = QueueFile::open(spool_.path(Folder::active, id), error);
    if (!file) {
      if (std::filesystem::exists(spool_.path(Folder::active, id))) {
        spdlog::error("queue id={} damaged ({}), moved to {}", id, error,
                      spool_.path(Folder::corrupt, id).string());
        spool_.move(id, Folder::active, Folder::corrupt);
      }
      continue;
    }
    const std::int64_t next = file->header().next_attempt;
    if (it != entries_.end()) due_.erase({it->second.next_attempt, id});
    entries_[id] = Entry{next, false};
    due_.insert({next, id});
  }
  // Forget what is no longer in active/ (delivered elsewhere, held, deleted).
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.in_flight && !std::filesystem::exists(spool_.path(Folder::active, it->first))) {
      due_.erase({it->second.next_attempt, it->first});
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::submit(const std::vector<std::string>& ids) {
  asio::post(strand_, [this, ids] {
    for (const auto& id : ids) {
      if (entries_.count(id)) continue;
      entries_[id] = Entry{0, false};
      due_.insert({0, id});
    }
    wake_.cancel();
  });
}

void Scheduler::rescan() {
  asio::post(strand_, [this] {
    load_from_disk();
    wake_.cancel();
  });
}

void Scheduler::stop() {
  asio::post(strand_, [this] {
    stopped_ = true;
    wake_.cancel();
  });
}

net::awaitable<void> Scheduler::loop() {
  while (!stopped_) {
    const auto now = now_seconds();
    while (!due_.empty() && due_.begin()->first <= now && in_flight_ < config_.max_deliveries) {
      std::string id = due_.begin()->second;
      due_.erase(due_.begin());
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      it->second.in_flight = true;
      ++in_flight_;
      // Each attempt on a strand of its own: the next hop's Transport runs a watchdog
      // coroutine on the same executor, which must never run beside the attempt.
      asio::co_spawn(asio::make_strand(io_), attempt(id), asio::detached);
    }
    std::int64_t wait = 3600;
    if (!due_.empty() && in_flight_ < config_.max_deliveries)
      wait = std::clamp<std::int64_t>(due_.begin()->first - now, 1, 3600);
    wake_.expires_after(std::chrono::seconds(wait));
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Scheduler::finish(const std::string& id, bool keep, std::int64_t next_attempt) {
  --in_flight_;
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (keep) {
      it->second.in_flight = false;
      it->second.next_attempt = next_attempt;
      due_.insert({next_attempt, id});
    } else {
      entries_.erase(it);
    }
  }
  wake_.cancel();
}

std::string Scheduler::destination_of(Lane lane, const std::string& recipient) const {
  const auto& route = routes_[static_cast<std::size_t>(lane)];
  return route.per_domain ? domain_of(recipient) : route.hop->describe();
}

net::awaitable<void> Scheduler::acquire(const std::string& destination) {
  auto on_strand = asio::bind_executor(strand_, asio::use_awaitable);
  while (true) {
    co_await asio::post(on_strand);
    auto& d = destinations_[destination];
    if (d.used < config_.destination_concurrency) {
      ++d.used;
      co_return;
    }
    auto timer = std::make_shared<asio::steady_timer>(strand_, std::chrono::hours(1));
    d.waiters.push_back(timer);
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Scheduler::release(const std::string& destination) {
  asio::post(strand_, [this, destination] {
    auto it = destinations_.find(destination);
    if (it == destinations_.end()) return;
    auto& d = it->second;
    --d.used;
    if (!d.waiters.empty()) {
      d.waiters.front()->cancel();
      d.waiters.erase(d.waiters.begin());
    } else if (d.used == 0) {
      destinations_.erase(it);
    }
  });
}

bool Scheduler::write_dsn(const QueueHeader& header, const std::vector<std::size_t>& which,
                          bool failed, const core::MessageBody& body) {
  DsnInput in;
  in.reporting_mta = hostname_;
  in.original_id = header.id;
  in.original_sender = header.sender;
  in.arrival = header.arrival;
  in.now = now_seconds();
  const auto& route = routes_[static_cast<std::size_t>(header.lane)];
  for (auto i : which) {
    const auto& r = header.recipients[i];
    in.recipients.push_back({r.address, failed, r.last_reply, route.hop->describe()});
  }
  std::string start(std::min<std::size_t>(body.size(), 64 * 1024), '\0');
  long n = body.read_at(0, start.data(), start.size());
  start.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  in.original_headers = header_block(start);

  NewMessage m;
  // Deterministic ids: a DSN re-written after a crash replaces its first copy.
  m.id = failed ? fmt::format("{}-B{}", header.id, header.attempts) : header.id + "-W";
  in.dsn_message_id = m.id;
  m.lane = other_lane(header.lane);  // back to where the sender lives
  m.recipients = {header.sender};
  m.owned_body = build_dsn(in);
  if (auto ec = spool_.enqueue({m})) {
    spdlog::error("queue id={} cannot queue the DSN to <{}>: {}", header.id, header.sender,
                  ec.message());
    return false;
  }
  spdlog::info("queue id={} {} DSN id={} to <{}> for {} recipient(s)", header.id,
               failed ? "failure" : "delay", m.id, header.sender, which.size());
  submit({m.id});
  return true;
}

struct Scheduler::Work {
  std::string id;
  std::optional<QueueFile> file;
  core::Envelope envelope;
  std::optional<core::MessageBody> body;
  // Pending recipients grouped by destination, in file order.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  std::vector<delivery::RecipientResult> results;
};

bool Scheduler::open_attempt(const std::string& id, Work& w) {
  w.id = id;
  std::string error;
  const auto path = spool_.path(Folder::active, id);
  w.file = QueueFile::open(path, error);
  if (!w.file) {
    if (std::filesystem::exists(path)) {
      spdlog::error("queue id={} damaged ({}), moved to {}", id, error,
                    spool_.path(Folder::corrupt, id).string());
      spool_.move(id, Folder::active, Folder::corrupt);
    }
    return false;  // damaged, or held/deleted by the operator meanwhile
  }
  const QueueHeader& header = w.file->header();
  w.envelope.sender = header.sender;
  w.envelope.body_8bit = header.body_8bit;
  w.envelope.smtputf8 = header.smtputf8;
  for (const auto& r : header.recipients) {
    if (r.state != RecipientState::pending) continue;
    auto dest = destination_of(header.lane, r.address);
    auto g = std::find_if(w.groups.begin(), w.groups.end(),
                          [&](const auto& x) { return x.first == dest; });
    if (g == w.groups.end()) {
      w.groups.push_back({dest, {}});
      g = w.groups.end() - 1;
    }
    g->second.push_back(r.address);
    w.envelope.recipients.push_back(r.address);
  }
  w.body.emplace(w.file->body());
  return true;
}

net::awaitable<delivery::DeliveryResult> Scheduler::deliver_group(Work& w, std::size_t group) {
  const auto& route = routes_[static_cast<std::size_t>(w.file->header().lane)];
  delivery::DeliveryRequest request{&w.envelope, w.groups[group].second, std::string_view(),
                                    &*w.body, w.id};
  std::optional<delivery::DeliveryResult> result;
  std::string error;
  try {
    result = co_await route.hop->deliver(request);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!result)
    result = delivery::all_recipients(request,
                                      smtp::make_reply(451, "4.3.0", "Delivery failed: " + error));
  co_return std::move(*result);
}

bool Scheduler::all_delivered(const Work& w) const {
  if (w.results.size() != w.envelope.recipients.size()) return false;
  for (const auto& r : w.results)
    if (!r.reply.positive()) return false;
  return true;
}

void Scheduler::remove_delivered(Work& w) {
  const auto& route = routes_[static_cast<std::size_t>(w.file->header().lane)];
  w.file.reset();
  // Not durable (no directory fsync): see Spool::remove.
  const bool removed = spool_.remove(w.id, Folder::active, /*durable=*/false);
  for (const auto& r : w.results)
    spdlog::info("queue id={} to=<{}> relay={} status=sent ({})", w.id, r.recipient,
                 route.hop->describe(), r.reply.brief());
  if (!removed) spdlog::warn("queue id={} delivered but no longer in active/", w.id);
}

bool Scheduler::record_attempt(Work& w, std::int64_t& next) {
  QueueFile& file = *w.file;
  const auto& route = routes_[static_cast<std::size_t>(file.header().lane)];
  std::error_code ec;
  for (const auto& res : w.results) {
    for (std::size_t i = 0; i < file.header().recipients.size(); ++i) {
      const auto& r = file.header().recipients[i];
      if (r.state != RecipientState::pending || r.address != res.recipient) continue;
      auto state = res.reply.positive()    ? RecipientState::delivered
                   : res.reply.permanent() ? RecipientState::failed
                                           : RecipientState::pending;
      spdlog::info("queue id={} to=<{}> relay={} status={} ({})", w.id, r.address,
                   route.hop->describe(),
                   state == RecipientState::delivered ? "sent"
                   : state == RecipientState::failed  ? "bounced"
                                                      : "deferred",
                   res.reply.brief());
      if (!ec) ec = file.set_recipient(i, state, format_reply(res.reply));
    }
  }
  QueueHeader h = file.header();
  h.attempts += 1;
  std::vector<std::size_t> expired;
  AttemptPlan plan = plan_after_attempt(config_, h, now_seconds(), expired);
  for (auto i : expired) {
    spdlog::warn("queue id={} to=<{}> status=expired ({})", w.id, h.recipients[i].address,
                 h.recipients[i].last_reply);
    if (!ec) ec = file.set_recipient(i, RecipientState::failed, h.recipients[i].last_reply);
  }
  // Failed recipients: tell the sender, then mark them reported.
  std::vector<std::size_t> failed;
  for (std::size_t i = 0; i < h.recipients.size(); ++i)
    if (h.recipients[i].state == RecipientState::failed) failed.push_back(i);
  bool dsn_ok = true;
  if (!failed.empty()) {
    if (plan.send_failure_dsn)
      dsn_ok = write_dsn(h, failed, true, *w.body);
    else
      spdlog::info("queue id={} null sender: no DSN for {} failed recipient(s)", w.id,
                   failed.size());
    if (dsn_ok)
      for (auto i : failed)
        if (!ec) ec = file.set_recipient(i, RecipientState::reported, h.recipients[i].last_reply);
  }
  bool warned = h.warned;
  if (plan.send_delay_dsn) {
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < h.recipients.size(); ++i)
      if (h.recipients[i].state == RecipientState::pending) pending.push_back(i);
    warned = write_dsn(h, pending, false, *w.body);
  }
  if (plan.finished && dsn_ok && !ec) {
    w.file.reset();
    if (!spool_.remove(w.id, Folder::active, /*durable=*/false))
      spdlog::warn("queue id={} finished but no longer in active/", w.id);
    else
      spdlog::debug("queue id={} removed (done)", w.id);
    return false;
  }
  next = plan.finished ? now_seconds() + config_.retry_min.count() : plan.next_attempt;
  if (!ec) ec = file.set_schedule(h.attempts, next, warned);
  if (!ec) ec = file.sync();
  if (ec) spdlog::error("queue id={} cannot record delivery state: {}", w.id, ec.message());
  return true;
}

// Kept simple on purpose: g++ 12 mis-handles some objects in coroutine frames (structured
// bindings, values alive at an early co_return), so the state lives in `work` on the heap
// and there is a single co_return path.
net::awaitable<void> Scheduler::attempt(std::string id) {
  auto work = std::make_unique<Work>();
  bool keep = true;
  std::int64_t next = now_seconds() + config_.retry_min.count();
  auto on_blocking = asio::bind_executor(blocking_, asio::use_awaitable);
  auto on_strand = asio::bind_executor(strand_, asio::use_awaitable);
  // This attempt's own strand: the next hop's I/O (and its Transport watchdog) must run
  // there, never on the scheduler's strand or the blocking pool where the steps below
  // leave the coroutine.
  auto home = co_await asio::this_coro::executor;
  try {
    co_await asio::post(on_blocking);
    if (!open_attempt(id, *work)) {
      keep = false;
    } else {
      for (std::size_t g = 0; g < work->groups.size(); ++g) {
        co_await acquire(work->groups[g].first);
        co_await asio::post(home, asio::use_awaitable);
        spdlog::debug("queue id={} attempt {} to {} ({} recipients)", id,
                      work->file->header().attempts + 1, work->groups[g].first,
                      work->groups[g].second.size());
        auto result = co_await deliver_group(*work, g);
        release(work->groups[g].first);
        for (auto& x : result.recipients) work->results.push_back(std::move(x));
      }
      if (all_delivered(*work)) {
        // The common case, done here and now: every moment between the next hop's 250
        // and the unlink is a window in which a crash would deliver the message twice.
        remove_delivered(*work);
        keep = false;
      } else {
        co_await asio::post(on_blocking);
        keep = record_attempt(*work, next);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("queue id={} attempt failed: {}", id, e.what());
  }
  work.reset();
  co_await asio::post(on_strand);
  finish(id, keep, next);
}

}  // namespace mailseal::queue
