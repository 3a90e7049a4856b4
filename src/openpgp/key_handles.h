// Internal helpers over RNP key handles: locate by fingerprint, enumerate primary keys,
// describe a key (KeyInfo), and the validity test shared by key selection and sealing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "openpgp/keyring.h"
#include "openpgp/rnp_handles.h"

namespace mailseal::openpgp::detail {

struct KeyringState {
  FfiPtr ffi;
  std::optional<Seconds> time;  // Keyring::set_time
};

// Key (primary or subkey) by hex fingerprint or key ID; null when absent.
KeyPtr locate_key(rnp_ffi_t ffi, std::string_view fingerprint);
// Fingerprints of all primary keys, each once.
std::vector<std::string> primary_fingerprints(rnp_ffi_t ffi);

SubkeyInfo describe_subkey(rnp_key_handle_t key);
Result<KeyInfo> describe_key(rnp_key_handle_t primary);

// The primary key of `key` (itself when it is primary).
KeyPtr primary_of(rnp_ffi_t ffi, rnp_key_handle_t key);

// Usable now for `usage`: valid, not revoked, not expired, capable; for signing the
// secret part is present. The primary must be usable too (checked by the caller).
bool key_usable(rnp_key_handle_t key, Usage usage);

}  // namespace mailseal::openpgp::detail
