// DANE owner names for OPENPGPKEY and SMIMEA (see dane_names.h).
#include "keys/dane_names.h"

#include <openssl/sha.h>

#include "keys/x509_util.h"
#include "util/strings.h"

namespace mailseal::keys {

std::string dane_local_part_hash(std::string_view local_part) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(local_part.data()), local_part.size(), md);
  return hex(md, 28);  // RFC 7929 3: truncated to 28 octets (224 bits)
}

std::optional<std::string> dane_owner_name(std::string_view address, std::string_view label) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
  std::string domain = util::to_lower(address.substr(at + 1));
  if (domain.back() == '.') domain.pop_back();
  if (domain.empty() || domain.size() > 180 ||
      domain.find_first_of(" \t\r\n/\\@:[]") != std::string::npos)
    return std::nullopt;
  return dane_local_part_hash(address.substr(0, at)) + "." + std::string(label) + "." + domain;
}

}  // namespace mailseal::keys
