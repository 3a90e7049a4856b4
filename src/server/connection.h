// Drives one SMTP session over a socket: reads command lines and the DATA stream, feeds
// the pure smtp::Session, writes its replies (batched while the client pipelines), does
// STARTTLS, and hands accepted messages to the Relay. All timeouts live here.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/message_body.h"
#include "net/transport.h"
#include "server/listener.h"
#include "smtp/line_buffer.h"
#include "smtp/session.h"

namespace mailseal::server {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(net::tcp::socket socket, std::shared_ptr<Listener> listener,
             std::string client_address, unsigned short client_port);
  net::awaitable<void> run();
  // Thread-safe: asks the connection to finish (idle: now with 421; busy: after the reply).
  void request_shutdown();
  net::tcp::socket::executor_type socket_executor() { return transport_.socket().get_executor(); }

 private:
  net::awaitable<void> flush();
  net::awaitable<bool> read_more(std::chrono::seconds timeout);
  net::awaitable<smtp::Step> receive_data();
  net::awaitable<smtp::Step> deliver();
  net::awaitable<bool> start_tls();
  // session_.on_line(line) on the crypto pool, for RCPT when the side has a filter: its
  // key lookups may go to the network (directory, WKD, DANE, OCSP, PostgreSQL) and wait
  // up to their timeouts, which on an I/O thread would stall every session it serves.
  net::awaitable<smtp::Step> on_line_on_pool(const std::string& line);

  net::Transport transport_;
  std::shared_ptr<Listener> listener_;
  const ListenerContext& ctx_;
  SidePolicy policy_;
  smtp::Session session_;
  smtp::LineBuffer lines_;
  std::string out_;
  std::unique_ptr<core::MessageBody> body_;
  std::string message_id_;
  std::chrono::steady_clock::time_point data_started_;
  bool idle_ = false;
  std::atomic<bool> shutdown_{false};
};

// Unique message id: time + sequence + randomness, base-32, sortable by time.
std::string new_message_id();

}  // namespace mailseal::server
