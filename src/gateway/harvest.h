// Key harvesting on the open side (issue 6): which verified messages may give their
// signer's key to the key store, and where an OpenPGP message carries that key.
// The writing itself, and the checks on the key, are keys::Harvester's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/smime/smime.h"
#include "mime/entity.h"
#include "openpgp/verdict.h"

namespace mailseal::gateway {

// True only when there is at least one signature, every signature is fully good (valid:
// matches the content; S/MIME: chains to a trust anchor, in date, EKU, not revoked;
// OpenPGP: a known key, not expired or revoked) and its signer is the message's one From
// address. Unsigned, bad, untrusted/unknown-signer, expired, revoked and signer-not-From
// signatures never qualify, also when the rules only tag them. The caller adds that the
// message was not refused.
bool smime_harvestable(const std::vector<crypto::smime::Verdict>& verdicts,
                       const std::vector<std::string>& from);
bool openpgp_harvestable(const std::vector<openpgp::Verdict>& verdicts,
                         const std::vector<std::string>& from);

// The decoded keydata of the Autocrypt header (Autocrypt Level 1, 2.1) for `from`: the
// header's addr must be `from` (case-insensitively), it must carry keydata and no unknown
// critical attribute; several such headers count as none (as the spec says). nullopt when
// there is none or it is malformed. The header is outside the signature, so what it
// carries is only ever stored when it is the key that made the signature (Harvester).
std::optional<std::string> autocrypt_keydata(const std::vector<mime::Header>& headers,
                                             std::string_view from);

}  // namespace mailseal::gateway
