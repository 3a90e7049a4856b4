// Logger set-up and the per-message log line.
#include "observe/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "util/strings.h"

namespace mailseal::observe {

void init_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("mailseal");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

namespace {
// Header-style folded text ("a;\r\n b") becomes one line ("a; b").
std::string unfold(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r' || c == '\n') continue;
    out += c;
  }
  return out;
}
}  // namespace

std::string format_message_log(const MessageLogRecord& r) {
  return fmt::format(
      "msg id={} side={} client={}{}{} from=<{}> rcpts={} size={}{}{} reply=\"{}\" ms={}", r.id,
      r.side, r.client, r.auth_user.empty() ? "" : " auth=", util::printable(r.auth_user, 100),
      util::printable(r.sender, 256), r.recipients, r.size,
      r.filter.empty() ? "" : " filter=", util::printable(unfold(r.filter), 400),
      util::printable(r.reply, 300), r.elapsed.count());
}

void log_message(const MessageLogRecord& r) {
  spdlog::info("{}", format_message_log(r));
}

}  // namespace mailseal::observe
