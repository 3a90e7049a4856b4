// Listener: accept loop and connection limits.
#include "server/listener.h"

#include <spdlog/spdlog.h>

#include "server/connection.h"
#include "smtp/reply.h"

namespace mailseal::server {

namespace asio = net::asio;

Listener::Listener(asio::io_context& io, ListenerContext ctx)
    : io_(io), ctx_(std::move(ctx)), acceptor_(io) {}

void Listener::bind() {
  net::tcp::endpoint ep(asio::ip::make_address(ctx_.listener.address), ctx_.listener.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(1024);
}

void Listener::start() {
  asio::co_spawn(
      io_, [self = shared_from_this()] { return self->accept_loop(); }, asio::detached);
}

void Listener::stop_accepting() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

void Listener::shutdown_connections() {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    conns.assign(connections_.begin(), connections_.end());
  }
  for (auto& c : conns) c->request_shutdown();
}

void Listener::forget_connections() {
  std::lock_guard lock(mutex_);
  connections_.clear();
}

std::optional<std::string> Listener::admit(const std::string& client) {
  std::lock_guard lock(mutex_);
  if (stopping_) return "4.3.2 Service shutting down, try again later";
  if (total_.load() >= ctx_.listener.max_connections)
    return "4.3.2 Too many connections, try again later";
  auto& n = per_client_[client];
  if (n >= ctx_.listener.max_connections_per_client) {
    if (n == 0) per_client_.erase(client);
    return "4.7.0 Too many connections from your address, try again later";
  }
  ++n;
  ++total_;
  return std::nullopt;
}

void Listener::release(const std::string& client, Connection* conn) {
  std::lock_guard lock(mutex_);
  if (auto it = per_client_.find(client); it != per_client_.end() && --it->second == 0)
    per_client_.erase(it);
  --total_;
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->get() == conn) {
      connections_.erase(it);
      break;
    }
  }
}

net::awaitable<void> Listener::accept_loop() {
  while (true) {
    net::tcp::socket socket(asio::make_strand(io_));
    boost::system::error_code accept_error;
    co_await acceptor_.async_accept(socket,
                                    asio::redirect_error(asio::use_awaitable, accept_error));
    if (accept_error) {
      if (accept_error == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: log, back off briefly, keep serving.
      spdlog::warn("listener {} accept failed: {}", ctx_.listener.name, accept_error.message());
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (ec) continue;
    auto addr = remote.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    std::string client = addr.to_string();
    socket.set_option(net::tcp::no_delay(true), ec);
    if (auto refusal = admit(client)) {
      // RFC 5321 3.1: 421 instead of the greeting, then close.
      auto text = std::make_shared<std::string>("421 " + *refusal + "\r\n");
      auto s = std::make_shared<net::tcp::socket>(std::move(socket));
      asio::async_write(*s, asio::buffer(*text), [s, text](auto, auto) {
        boost::system::error_code ignored;
        s->close(ignored);
      });
      spdlog::info("conn client={} side={} refused: {}", client, ctx_.listener.name, *refusal);
      continue;
    }
    auto conn =
        std::make_shared<Connection>(std::move(socket), shared_from_this(), client, remote.port());
    {
      std::lock_guard lock(mutex_);
      connections_.insert(conn);
      // Shutdown may have begun between admit() and here: this connection was not in the
      // set that shutdown_connections() notified.
      if (stopping_) conn->request_shutdown();
    }
    asio::co_spawn(
        conn->socket_executor(), [conn] { return conn->run(); }, asio::detached);
  }
}

}  // namespace mailseal::server
