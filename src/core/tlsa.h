// One TLSA record (RFC 6698) as a plain value. It lives in core/ because two modules
// meet on it: dns/ produces it from DNS answers and net/ feeds it to OpenSSL's DANE
// verifier; neither should depend on the other for a four-field struct. Header-only,
// like envelope.h, so net/ needs no link dependency on core/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mailseal::core {

struct TlsaRecord {
  std::uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t matching = 0;  // 0 exact, 1 SHA-256, 2 SHA-512
  std::vector<std::uint8_t> data;

  bool operator==(const TlsaRecord&) const = default;
};

// "3 1 1 a1b2..." (presentation format, data in lower-case hex).
inline std::string to_string(const TlsaRecord& r) {
  static const char* hex = "0123456789abcdef";
  std::string out = std::to_string(r.usage) + " " + std::to_string(r.selector) + " " +
                    std::to_string(r.matching) + " ";
  for (std::uint8_t b : r.data) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace mailseal::core
