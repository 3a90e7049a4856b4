// LDAP search filters built from an operator's template and an untrusted e-mail address.
// The address comes from the SMTP envelope: unescaped, "*)(uid=*" would widen the search
// to other entries (filter injection), so every value is escaped per RFC 4515 3.
#pragma once

#include <string>
#include <string_view>

namespace mailseal::keys {

// RFC 4515 value escaping: '*', '(', ')', '\' and NUL become "\2a", "\28", "\29", "\5c",
// "\00"; so do control bytes and every byte >= 0x80 (allowed escaped, and it keeps the
// filter plain ASCII whatever the address holds).
std::string ldap_escape_value(std::string_view value);

// Replaces every "%s" in `filter_template` by the escaped `value`. "%%" stands for '%'.
// The template itself is the operator's, checked when the configuration is read.
std::string ldap_expand_filter(std::string_view filter_template, std::string_view value);

}  // namespace mailseal::keys
