// utc_time: gmtime_r (thread-safe) + strftime into a fixed buffer.
#include "util/utc_time.h"

#include <ctime>

namespace mailseal::util {

std::string utc_time(std::int64_t seconds, const char* format) {
  std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace mailseal::util
