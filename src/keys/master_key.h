// MasterKey: the 32-byte key that encrypts every secret key at rest (AES-256-GCM).
// It lives in its own file (mode 0600, created with O_EXCL) apart from the database, so
// a copy of keys.db alone reveals no secret key. Owns the file format and the blob format.
//
// File format: the 32 key bytes, or, wrapped by a key-encryption key in a PKCS#11 token
// (KeyWrapper), the 8-byte magic "MSWRAPK1" followed by the wrapper's blob. A wrapped
// file opens only with the token; the key is then in memory as before.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "keys/key_wrapper.h"
#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

class MasterKey {
 public:
  static constexpr std::size_t kKeySize = 32;

  // A fresh random key, only in memory (for rotation and tests).
  static Result<MasterKey> generate();
  // generate() + write_new(file).
  static Result<MasterKey> create(const std::filesystem::path& file);
  // Refuses a file that is not a regular file, is group/world accessible or has the
  // wrong size: a key others could read is no longer a secret, so we do not use it.
  // A wrapped file needs `kek` (else the error says which token it needs).
  static Result<MasterKey> load(const std::filesystem::path& file, KeyWrapper* kek = nullptr);
  // Whether the file holds a wrapped key (false for a plain one; an error if unreadable).
  static Result<bool> is_wrapped(const std::filesystem::path& file);

  // Writes the key to a new file: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, fsync file and dir;
  // wrapped by `kek` when given.
  Status write_new(const std::filesystem::path& file, KeyWrapper* kek = nullptr) const;

  // Public identifier of the key (hex, not reversible): the database records which key
  // its blobs are sealed under, so a wrong or half-rotated key file is detected early.
  std::string id() const;

  // Blob = version(1) | nonce(12) | ciphertext | tag(16). `aad` binds the blob to its
  // record (see record_aad) so a blob copied into another row fails to open.
  Result<std::string> seal(std::string_view plaintext, std::string_view aad) const;
  Result<SecretBytes> open(std::string_view blob, std::string_view aad) const;

 private:
  SecretBytes key_;
};

// Associated data for a sealed blob: purpose, address and fingerprint, each
// length-prefixed so that no two different records give the same bytes.
std::string record_aad(std::string_view purpose, std::string_view address,
                       std::string_view fingerprint);

}  // namespace mailseal::keys
