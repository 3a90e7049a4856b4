// Parses the address out of a user ID and compares addresses (see user_id.h).
// Deliberately strict: one '@', no spaces or angle brackets inside the address.
#include "openpgp/user_id.h"

#include <algorithm>
#include <cctype>

namespace mailseal::openpgp {
namespace {

bool plausible_address(std::string_view a) {
  auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= a.size()) return false;
  if (a.find('@', at + 1) != std::string_view::npos) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    return c == ' ' || c == '<' || c == '>' || c == '\t' || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

std::string email_from_user_id(std::string_view uid) {
  auto close = uid.rfind('>');
  if (close != std::string_view::npos) {
    auto open = uid.rfind('<', close);
    if (open == std::string_view::npos) return {};
    auto inner = uid.substr(open + 1, close - open - 1);
    return plausible_address(inner) ? std::string(inner) : std::string();
  }
  return plausible_address(uid) ? std::string(uid) : std::string();
}

std::string normalise_address(std::string_view address) {
  std::string out(address);
  auto at = out.rfind('@');
  if (at == std::string::npos) return out;
  std::transform(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(),
                 out.begin() + static_cast<std::ptrdiff_t>(at),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool same_address(std::string_view a, std::string_view b) {
  return !a.empty() && normalise_address(a) == normalise_address(b);
}

}  // namespace mailseal::openpgp
