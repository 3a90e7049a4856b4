// Address checks used at the operator boundary (CLI input, certificate e-mails).
// normalise_address() itself is declared in key_source.h, next to the interface.
#pragma once

#include <string_view>

namespace mailseal::keys {

// A plain addr-spec "local@domain": one '@', non-empty parts, printable ASCII, no spaces.
// Deliberately narrow: this is for naming keys, not for parsing headers.
bool is_valid_address(std::string_view address);

}  // namespace mailseal::keys
