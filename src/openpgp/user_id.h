// E-mail addresses inside OpenPGP user IDs ("Name <local@domain>", "<local@domain>" or a
// bare "local@domain") and the one address comparison rule: domain case-insensitive,
// local part exact (RFC 5321 2.4), as in keys::normalise_address.
#pragma once

#include <string>
#include <string_view>

namespace mailseal::openpgp {

// The address a user ID carries, "" when it carries none.
std::string email_from_user_id(std::string_view user_id);

// "Alice@Example.ORG" -> "Alice@example.org".
std::string normalise_address(std::string_view address);

bool same_address(std::string_view a, std::string_view b);

}  // namespace mailseal::openpgp
