// A TCP connection that may be upgraded to TLS in the middle (STARTTLS, RFC 3207), with
// one deadline watchdog: when the deadline passes, pending operations are cancelled and
// timed_out() turns true. Used by both the SMTP server and the SMTP/LMTP client.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tlsa.h"
#include "net/asio.h"
#include "net/dane.h"

namespace mailseal::net {

class Transport {
 public:
  explicit Transport(tcp::socket socket);
  ~Transport();

  awaitable<std::size_t> read_some(asio::mutable_buffer buffer);
  awaitable<void> write(std::string_view bytes);
  awaitable<void> tls_server_handshake(asio::ssl::context& ctx);
  // verify_name empty = no verification (opportunistic TLS).
  awaitable<void> tls_client_handshake(asio::ssl::context& ctx, const std::string& sni,
                                       const std::string& verify_name);
  // DANE (RFC 7672): the server is authenticated by the TLSA records (from a secure
  // lookup; see net/dane.h) for mx_host, not by a CA store. Throws before connecting
  // TLS when no record is usable, and like the above when none matches; either way
  // dane() tells the outcome afterwards.
  awaitable<void> tls_client_handshake_dane(asio::ssl::context& ctx, const std::string& sni,
                                            const std::vector<core::TlsaRecord>& tlsa,
                                            const std::string& mx_host);
  const DaneResult& dane() const { return dane_; }

  bool tls() const { return tls_ != nullptr; }
  std::string tls_version() const;
  tcp::socket& socket() { return socket_; }

  // Arms the deadline; a pending or later operation past it fails and timed_out() is set.
  void expires_after(std::chrono::steady_clock::duration d);
  void expire_now();
  // After a timeout: allow one more exchange (e.g. the 421 reply) under a new deadline.
  void reset_timeout();  // e.g. shutdown: wake an idle read
  bool timed_out() const { return timed_out_; }
  void close();
  // Starts the watchdog coroutine; must be called once, on the connection's executor.
  void start_watchdog();
  // The same on another executor, the one the coroutine using the connection runs on:
  // for a connection taken over from a parked owner.
  void start_watchdog(const asio::any_io_executor& executor);
  // Ends the watchdog but keeps the connection open, so that a coroutine on another
  // executor can take it over (an idle next-hop session kept for reuse). Call on the
  // current owner's executor; the new owner calls start_watchdog(its executor).
  void park();

 private:
  awaitable<void> watchdog();

  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timed_out_ = false;
  bool closed_ = false;
  DaneResult dane_;
  std::shared_ptr<bool> alive_;
  // Bumped by park(): a watchdog of an earlier epoch ends without touching anything else.
  std::shared_ptr<std::atomic<unsigned>> epoch_;
};

}  // namespace mailseal::net
