// IP addresses and CIDR networks for client_networks (IPv4 kept as IPv4-mapped IPv6).
#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "core/config.h"

namespace mailseal::core {

std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text) {
  std::string s(text);
  std::array<std::uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<Network> parse_network(std::string_view text) {
  auto slash = text.find('/');
  auto addr = parse_ip(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  int prefix = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
    if (prefix < 0 || prefix > (v4 ? 32 : 128)) return std::nullopt;
  }
  Network n;
  n.address = *addr;
  n.prefix = v4 ? prefix + 96 : prefix;
  return n;
}

bool Network::contains(const std::array<std::uint8_t, 16>& addr) const {
  int bits = prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((addr[i] & mask) != (address[i] & mask)) return false;
  }
  return true;
}

}  // namespace mailseal::core
