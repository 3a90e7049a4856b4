// The master key's key-encryption key in a PKCS#11 token (docs/KEYS.md "Master key in a
// token"): an AES-256 secret key object labelled "mailseal-kek" (CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_ENCRYPT and CKA_DECRYPT only), generated inside
// the token, so it never exists anywhere else. Wrapping is CKM_AES_GCM computed by the
// token: blob = IV (12 bytes, random) | ciphertext | tag (16 bytes), the associated data
// authenticated. RNP needs OpenPGP secret key material in memory (it has no PKCS#11
// backend), so OpenPGP secret keys stay sealed in the store under the master key; wrapping
// the master key binds them, and every other sealed key, to the token at rest.
//
// Each call opens the token (module, token label, PIN file of [keys.pkcs11]) and closes
// it again: wrapping happens once per command, unwrapping once per daemon start.
#pragma once

#include <string>

#include "keys/key_wrapper.h"
#include "keys/pkcs11_settings.h"

namespace mailseal::keys {

class TokenKek final : public KeyWrapper {
 public:
  static constexpr const char* kDefaultLabel = "mailseal-kek";

  explicit TokenKek(Pkcs11Settings token, std::string label = kDefaultLabel)
      : token_(std::move(token)), label_(std::move(label)) {}

  // Generates the key in the token; an error if one with the label is already there
  // (wrapping with a key the operator did not mean would lock the store to it).
  Status create();
  // Whether the token holds the key.
  Result<bool> exists();

  std::string describe() const override;
  Result<std::string> wrap(const SecretBytes& plain, std::string_view aad) override;
  Result<SecretBytes> unwrap(std::string_view blob, std::string_view aad) override;

 private:
  Pkcs11Settings token_;
  std::string label_;
};

}  // namespace mailseal::keys
