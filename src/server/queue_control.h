// The daemon's end of `mailseal queue`: a Unix socket in the spool (0600, root's) on
// which a line "rescan" makes the scheduler re-read active/ after the command changed
// files (flush, hold, release, delete). The command works on the files itself, so it
// also works while the daemon is down; the socket only makes a running one notice.
#pragma once

#include <filesystem>
#include <functional>
#include <system_error>

#include "net/asio.h"

namespace mailseal::server {

class QueueControl {
 public:
  QueueControl(net::asio::io_context& io, std::filesystem::path socket_path,
               std::function<void()> on_rescan);
  std::error_code start();
  void stop();

 private:
  net::awaitable<void> accept_loop();
  net::asio::io_context& io_;
  std::filesystem::path path_;
  std::function<void()> on_rescan_;
  net::asio::local::stream_protocol::acceptor acceptor_;
};

// Client side for the command: true if a daemon answered.
bool notify_queue_daemon(const std::filesystem::path& socket_path);

}  // namespace mailseal::server
