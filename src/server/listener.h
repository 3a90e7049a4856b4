// One listening side (inside or outside): accepts connections, enforces the connection
// limits (total and per client address) and runs a Connection for each. Knows its live
// connections so that shutdown can close idle ones and wait for busy ones.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "core/config.h"
#include "net/asio.h"
#include "server/relay.h"
#include "server/side_policy.h"

namespace mailseal::server {

class Connection;

struct ListenerContext {
  const core::Config& config;
  const core::ListenerConfig& listener;
  Side side;
  Relay& relay;
  net::asio::ssl::context* tls;  // null when STARTTLS is not configured
  std::filesystem::path spill_dir;
  const PasswordFile* passwords = nullptr;  // SMTP AUTH; null = not offered
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::asio::io_context& io, ListenerContext ctx);
  // Binds now so that a busy port is a start-up error, not a silent failure.
  void bind();
  void start();
  void stop_accepting();
  void shutdown_connections();  // idle ones get 421 now, busy ones after their reply
  // After the I/O threads stopped: drop the registry so that connections still suspended
  // (grace period over) are freed with their coroutine frames, not kept by a cycle.
  void forget_connections();
  std::size_t active() const { return total_.load(); }
  const ListenerContext& context() const { return ctx_; }

  // Called by Connection on exit.
  void release(const std::string& client, Connection* conn);

 private:
  net::awaitable<void> accept_loop();
  // Returns a refusal text if the limits are reached, else registers the client.
  std::optional<std::string> admit(const std::string& client);

  net::asio::io_context& io_;
  ListenerContext ctx_;
  net::tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::map<std::string, std::size_t> per_client_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::atomic<std::size_t> total_{0};
  bool stopping_ = false;
};

}  // namespace mailseal::server
