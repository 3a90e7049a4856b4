// Logging: one spdlog logger to stderr (systemd's journal or the terminal). The message
// log line is built in one place so that it always has the same fields and never any
// message content or key material.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace mailseal::observe {

void init_logging(const std::string& level);

struct MessageLogRecord {
  std::string id;
  std::string side;       // inside / outside
  std::string client;     // IP address
  std::string auth_user;  // SMTP AUTH identity, empty if none
  std::string sender;
  std::size_t recipients = 0;
  std::size_t size = 0;
  std::string filter;  // what the filter did (verdict, format), may be empty
  std::string reply;   // the reply the client got, e.g. "250 2.0.0 ..."
  std::chrono::milliseconds elapsed{0};
};

// "msg id=... side=inside client=... from=<...> rcpts=2 size=1234 filter=... reply="..." ms=12"
std::string format_message_log(const MessageLogRecord& r);
void log_message(const MessageLogRecord& r);

}  // namespace mailseal::observe
