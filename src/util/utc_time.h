// Seconds since the epoch as UTC text, in the formats the command line prints (queue
// and key listings). One place for gmtime_r + strftime. (Mail header dates, which must
// not depend on the locale: smtp::rfc5322_date.)
#pragma once

#include <cstdint>
#include <string>

namespace mailseal::util {

// strftime format over UTC, e.g. "%Y-%m-%d" -> "2026-11-25".
std::string utc_time(std::int64_t seconds, const char* format);
inline std::string utc_date(std::int64_t s) {
  return utc_time(s, "%Y-%m-%d");
}
inline std::string utc_timestamp(std::int64_t s) {
  return utc_time(s, "%Y-%m-%d %H:%M:%SZ");
}

}  // namespace mailseal::util
