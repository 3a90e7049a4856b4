// Wire-format RDATA decoders (RFC 1035, RFC 3596, RFC 6698) for the record types direct
// delivery needs. Each returns nullopt for malformed data, which the caller skips.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/tlsa.h"

namespace mailseal::dns {

// An uncompressed domain name as text without the trailing dot, lower case; the root is
// ".". Bytes other than letters, digits, '-' and '_' are written as \DDD (RFC 1035 5.1).
// `used` gets the number of octets the name took.
std::optional<std::string> decode_name(std::string_view wire, std::size_t& used);

struct MxRdata {
  std::uint16_t preference = 0;
  std::string exchange;  // "." for the null MX
};
std::optional<MxRdata> decode_mx(std::string_view rdata);
std::optional<std::string> decode_a(std::string_view rdata);     // "192.0.2.1"
std::optional<std::string> decode_aaaa(std::string_view rdata);  // "2001:db8::1"
std::optional<core::TlsaRecord> decode_tlsa(std::string_view rdata);

}  // namespace mailseal::dns
