// WKD hash and URLs (see wkd_url.h).
#include "keys/wkd_url.h"

#include <openssl/sha.h>

#include "util/strings.h"

namespace mailseal::keys {

std::string zbase32(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1u << bits) - 1;  // keep only the bits not yet written
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::string wkd_hash(std::string_view local_part) {
  // The draft maps only ASCII upper-case letters to lower case; other bytes (UTF-8) stay.
  std::string lower = util::to_lower(local_part);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(lower.data()), lower.size(), md);
  return zbase32(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<WkdUrls> wkd_urls(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
  std::string_view local = address.substr(0, at);
  std::string domain = util::to_lower(address.substr(at + 1));
  if (domain.back() == '.') domain.pop_back();
  // The domain becomes part of a host name and of a path: nothing that could change
  // either (a '/' would leave the well-known directory, '@' or ':' the host).
  if (domain.empty() || domain.size() > 253 ||
      domain.find_first_of(" \t\r\n/?#%@:[]\\") != std::string::npos)
    return std::nullopt;
  const std::string hu = "/hu/" + wkd_hash(local) + "?l=" + percent_encode(local);
  WkdUrls u;
  u.advanced.host = "openpgpkey." + domain;
  u.advanced.path = "/.well-known/openpgpkey/" + domain + hu;
  u.direct.host = domain;
  u.direct.path = "/.well-known/openpgpkey" + hu;
  return u;
}

std::string wkd_url_text(const WkdLocation& where, unsigned port) {
  return "https://" + where.host + (port == 443 ? std::string() : ":" + std::to_string(port)) +
         where.path;
}

}  // namespace mailseal::keys
