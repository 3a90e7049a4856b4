// Received header and RFC 5322 dates.
#include "smtp/received.h"

#include <array>

#include "util/strings.h"

namespace mailseal::smtp {

std::string rfc5322_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed",
                                                    "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string received_header(const core::ClientInfo& client, std::string_view hostname,
                            std::string_view protocol, std::string_view id,
                            std::string_view single_recipient, std::time_t when) {
  const bool v6 = client.address.find(':') != std::string::npos;
  std::string h = "Received: from ";
  // The HELO name is the client's claim: made printable, never trusted.
  h += client.helo.empty() ? "unknown" : util::printable(client.helo, 100);
  h += " ([";
  if (v6) h += "IPv6:";
  h += client.address;
  h += "])\r\n\tby ";
  h += hostname;
  h += " (mailseal) with ";
  h += protocol;
  if (client.tls && !client.tls_version.empty()) {
    h += " (";
    h += client.tls_version;
    h += ")";
  }
  h += " id ";
  h += id;
  if (!single_recipient.empty()) {
    h += "\r\n\tfor <";
    h += single_recipient;
    h += ">";
  }
  h += "; ";
  h += rfc5322_date(when);
  h += "\r\n";
  return h;
}

}  // namespace mailseal::smtp
