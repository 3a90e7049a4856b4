// RFC 4515 escaping and filter templates (see ldap_filter.h).
#include "keys/ldap_filter.h"

namespace mailseal::keys {

std::string ldap_escape_value(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    bool special = c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f;
    if (!special) {
      out += ch;
      continue;
    }
    out += '\\';
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

std::string ldap_expand_filter(std::string_view filter_template, std::string_view value) {
  const std::string escaped = ldap_escape_value(value);
  std::string out;
  for (std::size_t i = 0; i < filter_template.size(); ++i) {
    char c = filter_template[i];
    if (c == '%' && i + 1 < filter_template.size()) {
      char n = filter_template[i + 1];
      if (n == 's') {
        out += escaped;
        ++i;
        continue;
      }
      if (n == '%') {
        out += '%';
        ++i;
        continue;
      }
    }
    out += c;
  }
  return out;
}

}  // namespace mailseal::keys
