// A key-encryption key kept outside this process, that encrypts and decrypts small
// secrets with it: the master key at rest is wrapped this way by a key that never leaves
// a PKCS#11 token (keys/token_kek.h), so a copy of keys.db and master.key is not enough
// to open the secret keys the store holds (docs/KEYS.md "Master key in a token").
#pragma once

#include <string>
#include <string_view>

#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

class KeyWrapper {
 public:
  virtual ~KeyWrapper() = default;
  // For messages: where the key-encryption key is ("PKCS#11 token 'x', key 'y'").
  virtual std::string describe() const = 0;
  // An authenticated encryption of `plain` bound to `aad`; the blob format is the
  // wrapper's own.
  virtual Result<std::string> wrap(const SecretBytes& plain, std::string_view aad) = 0;
  virtual Result<SecretBytes> unwrap(std::string_view blob, std::string_view aad) = 0;
};

}  // namespace mailseal::keys
