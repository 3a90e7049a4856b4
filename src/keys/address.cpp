// Address normalisation: the one place the lookup rule lives (see key_source.h).
// RFC 5321 2.4: the local part may be case-sensitive, the domain is not.

#include "keys/address.h"
#include "keys/key_source.h"
#include "util/strings.h"

namespace mailseal::keys {

std::string normalise_address(std::string_view address) {
  address = util::trim(address);
  // The last '@' splits local part and domain: a quoted local part may contain '@'.
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  std::string out(address.substr(0, at + 1));
  out += util::to_lower(address.substr(at + 1));
  // A trailing dot on the domain (absolute form) names the same domain.
  if (out.size() > at + 1 && out.back() == '.') out.pop_back();
  return out;
}

bool is_valid_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  if (address.size() > 254) return false;  // RFC 5321 4.5.3.1.3 path limit
  for (char c : address) {
    if (c <= ' ' || c >= 127) return false;
  }
  auto domain = address.substr(at + 1);
  if (domain.find('@') != std::string_view::npos || domain.front() == '.') return false;
  return domain.find("..") == std::string_view::npos;
}

}  // namespace mailseal::keys
