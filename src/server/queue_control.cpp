// QueueControl: one short line per connection, answered "ok".
#include "server/queue_control.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

namespace mailseal::server {

namespace asio = net::asio;
using stream = asio::local::stream_protocol;

QueueControl::QueueControl(asio::io_context& io, std::filesystem::path socket_path,
                           std::function<void()> on_rescan)
    : io_(io), path_(std::move(socket_path)), on_rescan_(std::move(on_rescan)), acceptor_(io) {}

std::error_code QueueControl::start() {
  boost::system::error_code ec;
  std::filesystem::remove(path_);  // left by a previous run (the spool is ours alone)
  acceptor_.open(stream(), ec);
  if (!ec) acceptor_.bind(stream::endpoint(path_.string()), ec);
  if (!ec) ::chmod(path_.c_str(), 0600);
  if (!ec) acceptor_.listen(16, ec);
  if (ec) return std::error_code(ec.value(), std::generic_category());
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void QueueControl::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  std::error_code fs_ec;
  std::filesystem::remove(path_, fs_ec);
}

net::awaitable<void> QueueControl::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    stream::socket s(io_);
    co_await acceptor_.async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    std::string line;
    co_await asio::async_read_until(s, asio::dynamic_buffer(line, 256), '\n',
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && line == "rescan\n") {
      on_rescan_();
      static const std::string ok = "ok\n";  // no temporaries inside co_await (g++ 12)
      co_await asio::async_write(s, asio::buffer(ok),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      spdlog::warn("queue control: unknown request ignored");
    }
  }
}

bool notify_queue_daemon(const std::filesystem::path& socket_path) {
  try {
    asio::io_context io;
    stream::socket s(io);
    s.connect(stream::endpoint(socket_path.string()));
    asio::write(s, asio::buffer(std::string_view("rescan\n")));
    std::string reply;
    asio::read_until(s, asio::dynamic_buffer(reply, 256), '\n');
    return reply == "ok\n";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace mailseal::server
