// Idle SMTP/LMTP client sessions to the configured next hop, kept a short while for the
// next message (as Postfix's connection cache does): a reused session saves the TCP
// connect, the greeting, EHLO (and STARTTLS) and QUIT of a message, on both sides.
// A session goes back only after a complete transaction with nothing unread; it is
// closed (QUIT) when it has been idle for `idle_limit`, open for `age_limit`, or the
// cache already holds `max_idle`. The next hop may close an idle session first: the
// client sees that at the first reply of the next transaction, before anything was
// delivered, and then uses a new connection (smtp_client.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/transport.h"

namespace mailseal::delivery {

struct ServerExtensions {
  bool pipelining = false, starttls = false, eightbit = false, smtputf8 = false, size = false;
};

struct ClientSession {
  std::unique_ptr<net::Transport> transport;
  std::string input;  // received and not yet parsed
  ServerExtensions ext;
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point idle_since;
  std::size_t transactions = 0;
};

class SessionCache {
 public:
  SessionCache(std::chrono::steady_clock::duration idle_limit, std::size_t max_idle,
               std::chrono::steady_clock::duration age_limit = std::chrono::minutes(5));
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // The most recently used idle session, or null. The caller owns it and must start its
  // watchdog on its own executor (Transport::start_watchdog).
  std::unique_ptr<ClientSession> take();
  // Called by the owner, on its executor, after a complete transaction. Keeps the session
  // (its watchdog parked) or says goodbye to it; `executor` runs the idle timer.
  void put(std::unique_ptr<ClientSession> session, const net::asio::any_io_executor& executor);

  struct State;  // session_cache.cpp

 private:
  std::shared_ptr<State> state_;
};

// Sends QUIT and closes, without waiting for the reply; for a session nobody owns.
void say_goodbye(std::unique_ptr<ClientSession> session,
                 const net::asio::any_io_executor& executor);

}  // namespace mailseal::delivery
