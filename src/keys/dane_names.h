// DNS owner names of keys published in the recipient's domain: OPENPGPKEY (RFC 7929
// section 3) at <hash>._openpgpkey.<domain> and SMIMEA (RFC 8162 section 3) at
// <hash>._smimecert.<domain>, where <hash> is the SHA2-256 of the local part (exactly as
// written: RFC 7929 5 leaves case-folding to the publisher) truncated to 28 octets, in
// hex. Pure; unit-tested against the RFC 7929 example for hugh@example.com.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailseal::keys {

// "c93f1e40...c1afd6" (56 lower-case hex digits) for "hugh".
std::string dane_local_part_hash(std::string_view local_part);

// label: "_openpgpkey" or "_smimecert". nullopt for an address that has no usable domain.
std::optional<std::string> dane_owner_name(std::string_view address, std::string_view label);

}  // namespace mailseal::keys
