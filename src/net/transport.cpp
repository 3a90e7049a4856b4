// Transport: plain or TLS reads/writes and the deadline watchdog.
#include "net/transport.h"

#include <openssl/ssl.h>

#include <stdexcept>

namespace mailseal::net {

Transport::Transport(tcp::socket socket)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      alive_(std::make_shared<bool>(true)),
      epoch_(std::make_shared<std::atomic<unsigned>>(0)) {}

Transport::~Transport() {
  *alive_ = false;
}

awaitable<std::size_t> Transport::read_some(asio::mutable_buffer buffer) {
  if (timed_out_) throw boost::system::system_error(asio::error::timed_out);
  if (tls_) co_return co_await tls_->async_read_some(buffer, use_awaitable);
  co_return co_await socket_.async_read_some(buffer, use_awaitable);
}

awaitable<void> Transport::write(std::string_view bytes) {
  if (timed_out_) throw boost::system::system_error(asio::error::timed_out);
  if (tls_) {
    co_await asio::async_write(*tls_, asio::buffer(bytes), use_awaitable);
  } else {
    co_await asio::async_write(socket_, asio::buffer(bytes), use_awaitable);
  }
}

awaitable<void> Transport::tls_server_handshake(asio::ssl::context& ctx) {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
  co_await tls_->async_handshake(asio::ssl::stream_base::server, use_awaitable);
}

awaitable<void> Transport::tls_client_handshake(asio::ssl::context& ctx, const std::string& sni,
                                                const std::string& verify_name) {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
  if (!sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
  if (!verify_name.empty()) {
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(verify_name));
  } else {
    tls_->set_verify_mode(asio::ssl::verify_none);
  }
  co_await tls_->async_handshake(asio::ssl::stream_base::client, use_awaitable);
}

awaitable<void> Transport::tls_client_handshake_dane(asio::ssl::context& ctx,
                                                     const std::string& sni,
                                                     const std::vector<core::TlsaRecord>& tlsa,
                                                     const std::string& mx_host) {
  dane_ = DaneResult{};
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
  SSL* ssl = tls_->native_handle();
  std::string error;
  if (dane_prepare(ctx.native_handle(), ssl, tlsa, mx_host, error) == 0) {
    dane_.reason = error;
    tls_.reset();
    throw std::runtime_error("DANE: " + error);
  }
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  // verify_peer: a server that matches no record fails the handshake, so nothing can be
  // sent over an unauthenticated channel by mistake.
  tls_->set_verify_mode(asio::ssl::verify_peer);
  try {
    co_await tls_->async_handshake(asio::ssl::stream_base::client, use_awaitable);
  } catch (const boost::system::system_error&) {
    dane_ = dane_result(ssl);
    throw;
  }
  dane_ = dane_result(ssl);
}

std::string Transport::tls_version() const {
  if (!tls_) return {};
  return SSL_get_version(const_cast<SSL*>(tls_->native_handle()));
}

void Transport::expires_after(std::chrono::steady_clock::duration d) {
  deadline_ = std::chrono::steady_clock::now() + d;
  // Only wake the watchdog when the new deadline is earlier than what it sleeps for.
  if (timer_.expiry() > deadline_) timer_.expires_at(deadline_);
}

void Transport::expire_now() {
  deadline_ = std::chrono::steady_clock::now();
  timer_.expires_at(deadline_);
}

void Transport::reset_timeout() {
  if (!timed_out_) return;
  timed_out_ = false;
  deadline_ = std::chrono::steady_clock::time_point::max();
  start_watchdog();
}

void Transport::close() {
  closed_ = true;
  boost::system::error_code ec;
  timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

void Transport::start_watchdog() {
  asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
}

void Transport::start_watchdog(const asio::any_io_executor& executor) {
  asio::co_spawn(executor, watchdog(), asio::detached);
}

void Transport::park() {
  ++*epoch_;
  timer_.cancel();
}

awaitable<void> Transport::watchdog() {
  auto alive = alive_;
  auto epoch = epoch_;
  const unsigned mine = epoch->load();
  while (*alive && *epoch == mine && !closed_) {
    timer_.expires_at(deadline_);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    // Parked: the connection may already belong to a coroutine on another thread.
    if (!*alive || *epoch != mine || closed_) co_return;
    if (std::chrono::steady_clock::now() >= deadline_) {
      timed_out_ = true;
      socket_.cancel(ec);
      co_return;
    }
  }
}

}  // namespace mailseal::net
