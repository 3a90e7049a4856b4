// How an OpenPGP key is filed in the store (OpenpgpRow: fingerprints, algorithm, dates),
// shared by KeyAdmin's import/generate and the Harvester, so both file a key alike.
// Defined in key_admin_openpgp.cpp.
#pragma once

#include "keys/key_store.h"
#include "keys/result.h"
#include "openpgp/keyring.h"

namespace mailseal::keys {

// A fresh RNP keyring that judges validity (expiry, revocation) as of `now`.
Result<openpgp::Keyring> openpgp_keyring(const Clock& now);
// The row for a key RNP parsed; public_key is left for the caller to fill.
OpenpgpRow openpgp_row(const openpgp::KeyInfo& info);

}  // namespace mailseal::keys
