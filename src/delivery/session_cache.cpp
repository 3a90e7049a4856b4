#include "delivery/session_cache.h"

namespace mailseal::delivery {

namespace asio = net::asio;
using Clock = std::chrono::steady_clock;

struct SessionCache::State {
  Clock::duration idle_limit, age_limit;
  std::size_t max_idle;
  std::mutex mu;
  std::vector<std::unique_ptr<ClientSession>> idle;  // least recently used first
  std::optional<asio::any_io_executor> executor;
  std::optional<asio::steady_timer> timer;
  bool armed = false;
};

namespace {

asio::awaitable<void> goodbye(std::shared_ptr<ClientSession> session) {
  auto executor = co_await asio::this_coro::executor;
  net::Transport& t = *session->transport;
  t.start_watchdog(executor);
  t.expires_after(std::chrono::seconds(10));
  try {
    co_await t.write("QUIT\r\n");
  } catch (...) {
    // The next hop may have gone already; closing is all that is left.
  }
  t.close();
}

// Under the state's lock: wake up when the least recently used session expires.
void arm(const std::shared_ptr<SessionCache::State>& state);

}  // namespace

void say_goodbye(std::unique_ptr<ClientSession> session, const asio::any_io_executor& executor) {
  asio::co_spawn(executor, goodbye(std::shared_ptr<ClientSession>(std::move(session))),
                 asio::detached);
}

namespace {

void arm(const std::shared_ptr<SessionCache::State>& state) {
  if (state->armed || state->idle.empty() || !state->executor) return;
  if (!state->timer) state->timer.emplace(*state->executor);
  state->armed = true;
  state->timer->expires_at(state->idle.front()->idle_since + state->idle_limit);
  std::weak_ptr<SessionCache::State> weak = state;
  state->timer->async_wait([weak](const boost::system::error_code&) {
    auto st = weak.lock();
    if (!st) return;
    std::vector<std::unique_ptr<ClientSession>> expired;
    {
      std::lock_guard lock(st->mu);
      st->armed = false;
      const auto now = Clock::now();
      while (!st->idle.empty() && st->idle.front()->idle_since + st->idle_limit <= now) {
        expired.push_back(std::move(st->idle.front()));
        st->idle.erase(st->idle.begin());
      }
      arm(st);
    }
    for (auto& s : expired) say_goodbye(std::move(s), *st->executor);
  });
}

}  // namespace

SessionCache::SessionCache(Clock::duration idle_limit, std::size_t max_idle,
                           Clock::duration age_limit)
    : state_(std::make_shared<State>()) {
  state_->idle_limit = idle_limit;
  state_->age_limit = age_limit;
  state_->max_idle = max_idle;
}

SessionCache::~SessionCache() {
  // The daemon is stopping (its I/O threads have returned): no QUIT, just close.
  std::lock_guard lock(state_->mu);
  for (auto& s : state_->idle) s->transport->close();
  state_->idle.clear();
  if (state_->timer) state_->timer->cancel();
}

std::unique_ptr<ClientSession> SessionCache::take() {
  std::vector<std::unique_ptr<ClientSession>> stale;
  std::unique_ptr<ClientSession> found;
  {
    std::lock_guard lock(state_->mu);
    const auto now = Clock::now();
    while (!state_->idle.empty() && !found) {
      std::unique_ptr<ClientSession> s = std::move(state_->idle.back());
      state_->idle.pop_back();
      if (s->idle_since + state_->idle_limit <= now || s->opened + state_->age_limit <= now)
        stale.push_back(std::move(s));
      else
        found = std::move(s);
    }
  }
  for (auto& s : stale) say_goodbye(std::move(s), *state_->executor);
  return found;
}

void SessionCache::put(std::unique_ptr<ClientSession> session,
                       const asio::any_io_executor& executor) {
  session->transport->park();
  const auto now = Clock::now();
  session->idle_since = now;
  if (session->opened + state_->age_limit > now) {
    std::lock_guard lock(state_->mu);
    if (state_->idle.size() < state_->max_idle) {
      if (!state_->executor) state_->executor = executor;
      state_->idle.push_back(std::move(session));
      arm(state_);
      return;
    }
  }
  say_goodbye(std::move(session), executor);
}

}  // namespace mailseal::delivery
