// RDATA decoders. libunbound hands over RDATA with names already decompressed, so a
// compression pointer here means a broken answer and is refused rather than followed.
#include "dns/rdata.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace mailseal::dns {

std::optional<std::string> decode_name(std::string_view wire, std::size_t& used) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    if (pos >= wire.size()) return std::nullopt;
    auto len = static_cast<std::uint8_t>(wire[pos]);
    if (len == 0) {
      ++pos;
      break;
    }
    if (len > 63 || pos + 1 + len > wire.size()) return std::nullopt;  // pointer or overrun
    if (!out.empty()) out += '.';
    for (char ch : wire.substr(pos + 1, len)) {
      auto c = static_cast<unsigned char>(ch);
      if (c >= 'A' && c <= 'Z') {
        out += static_cast<char>(c - 'A' + 'a');
      } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
        out += static_cast<char>(c);
      } else {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      }
    }
    pos += 1 + len;
    if (pos > 255) return std::nullopt;
  }
  used = pos;
  return out.empty() ? std::string(".") : out;
}

std::optional<MxRdata> decode_mx(std::string_view rdata) {
  if (rdata.size() < 3) return std::nullopt;
  MxRdata mx;
  mx.preference = static_cast<std::uint16_t>((static_cast<std::uint8_t>(rdata[0]) << 8) |
                                             static_cast<std::uint8_t>(rdata[1]));
  std::size_t used = 0;
  auto name = decode_name(rdata.substr(2), used);
  if (!name || 2 + used != rdata.size()) return std::nullopt;
  mx.exchange = std::move(*name);
  return mx;
}

namespace {
std::optional<std::string> decode_ip(std::string_view rdata, int family, std::size_t size) {
  if (rdata.size() != size) return std::nullopt;
  unsigned char bytes[16];
  std::memcpy(bytes, rdata.data(), size);
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, bytes, text, sizeof text)) return std::nullopt;
  return std::string(text);
}
}  // namespace

std::optional<std::string> decode_a(std::string_view rdata) {
  return decode_ip(rdata, AF_INET, 4);
}

std::optional<std::string> decode_aaaa(std::string_view rdata) {
  return decode_ip(rdata, AF_INET6, 16);
}

std::optional<core::TlsaRecord> decode_tlsa(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;  // three octets and at least one of data
  core::TlsaRecord r;
  r.usage = static_cast<std::uint8_t>(rdata[0]);
  r.selector = static_cast<std::uint8_t>(rdata[1]);
  r.matching = static_cast<std::uint8_t>(rdata[2]);
  r.data.assign(rdata.begin() + 3, rdata.end());
  return r;
}

}  // namespace mailseal::dns
