// Key generation for an address: Ed25519 primary (certify + sign) with a Cv25519
// encryption subkey by default, or RSA-3072 primary + RSA-3072 subkey. The secret key is
// left unprotected in the keyring: the key store encrypts it at rest.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "openpgp/keyring.h"

namespace mailseal::openpgp {

enum class KeyAlgorithm { ed25519_cv25519, rsa3072 };

struct GenerateOptions {
  KeyAlgorithm algorithm = KeyAlgorithm::ed25519_cv25519;
  std::string name;  // user ID "name <address>"; empty: "<address>"
  // Lifetime from creation (primary and subkey); nullopt: does not expire (RNP's own
  // default of two years is not used: expiry is the operator's explicit choice).
  std::optional<std::chrono::seconds> lifetime;
};

// Generates into `keyring` and returns the new key. Key creation time is the keyring's
// "now" (Keyring::set_time lets tests create keys that are already expired).
Result<KeyInfo> generate_key(Keyring& keyring, std::string_view address,
                             const GenerateOptions& options = {});

}  // namespace mailseal::openpgp
