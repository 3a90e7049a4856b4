// Keyring: one RNP context (rnp_ffi_t) holding the OpenPGP keys an operation may use,
// loaded from the key store's bytes. Import (armored/binary, public/secret, with
// passphrase), export, key description, and the rule that picks a key for an address.
// Not thread-safe (RNP's ffi is not): use one Keyring per worker or per message.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openpgp/result.h"
#include "openpgp/streams.h"

struct rnp_ffi_st;  // RNP's context, opaque here

namespace mailseal::openpgp {

using Seconds = std::chrono::sys_seconds;

struct UserIdInfo {
  std::string text;    // as in the key (UTF-8 by convention, not validated)
  std::string email;   // "" when the user ID carries no address
  bool valid = false;  // self-signature checks out and not revoked
  bool revoked = false;
  bool primary = false;
};

struct SubkeyInfo {
  std::string fingerprint;  // upper-case hex
  std::string algorithm;    // RNP names: "RSA", "EDDSA", "ECDH", "ECDSA", ...
  std::string curve;        // "Ed25519", "Curve25519", "NIST P-256", or ""
  std::uint32_t bits = 0;
  Seconds created{};
  std::optional<Seconds> expires;  // none: does not expire
  bool can_sign = false;
  bool can_encrypt = false;
  bool revoked = false;
  bool expired = false;
  bool valid = false;
  bool has_secret = false;
};

struct KeyInfo {
  SubkeyInfo primary;  // the primary key's own properties (fingerprint = key's identity)
  std::vector<UserIdInfo> user_ids;
  std::vector<SubkeyInfo> subkeys;

  const std::string& fingerprint() const { return primary.fingerprint; }
  bool has_secret() const { return primary.has_secret; }
  // Addresses of the valid (non-revoked) user IDs.
  std::vector<std::string> emails() const;
};

enum class Usage { sign, encrypt };

// The key chosen for an operation: the certificate (primary) and the (sub)key doing it.
struct KeyChoice {
  std::string primary_fingerprint;
  std::string key_fingerprint;
};

namespace detail {
struct KeyringState;
}

class Keyring {
 public:
  static Result<Keyring> create();
  Keyring(Keyring&&) noexcept;
  Keyring& operator=(Keyring&&) noexcept;
  ~Keyring();

  // Imports every key in `data` (ASCII-armored or binary; public or secret, several keys
  // allowed), as exported by gpg --export[-secret-keys] and sq. Protected secret keys
  // are unlocked with `passphrase` and kept unprotected in the keyring (the key store
  // encrypts them at rest); a protected secret key without the right passphrase fails
  // the whole import, which is all-or-nothing. Returns the imported primary keys.
  Result<std::vector<KeyInfo>> import_keys(Source data, std::string_view passphrase = {});

  Result<KeyInfo> info(std::string_view fingerprint) const;

  // Imports keys the key store produced (already unprotected, one transferable key per
  // call) straight into this keyring, without the staging of import_keys(): it is the
  // hot path of the gateway. Secret parts that are protected are dropped, so they
  // behave as absent (import_keys() without a passphrase would refuse them).
  // `fingerprint` is the primary key the data holds.
  Status add_stored_key(std::string_view data, std::string_view fingerprint);
  // Removes a key (public and secret, with its subkeys) if present.
  void drop(std::string_view fingerprint);
  // The earliest expiry of the key or one of its subkeys, if any: RNP decides validity
  // when a key is imported, so a keyring kept across messages must re-import a key
  // that has reached it.
  std::optional<Seconds> earliest_expiry(std::string_view fingerprint) const;
  // Primary fingerprint of the key (primary or subkey) with this key ID or fingerprint.
  std::string primary_fingerprint_of(std::string_view id) const;
  std::vector<KeyInfo> list() const;
  Status remove(std::string_view fingerprint);

  // Transferable public key (certificate) or secret key, primary plus subkeys.
  // With a passphrase the exported secret key is protected (AES-256, iterated S2K).
  Result<std::string> export_public(std::string_view fingerprint, bool armored) const;
  Result<SecretString> export_secret(std::string_view fingerprint, bool armored,
                                     std::string_view passphrase = {}) const;

  // The key used for `address`: one of its valid, non-revoked user IDs carries the
  // address (domain case-insensitive, local part exact) and it has a valid (not
  // expired, not revoked) key with the capability (for sign: with the secret part).
  // Several candidates: the newest primary key wins. not_found / unusable_key otherwise.
  Result<KeyChoice> key_for_address(std::string_view address, Usage usage) const;
  // The same rule, but only keys whose primary fingerprint is in `among` (hex, any case)
  // are considered: a keyring reused across messages may hold keys this message must
  // not use (see gateway/openpgp_keys.h).
  Result<KeyChoice> key_for_address(std::string_view address, Usage usage,
                                    const std::vector<std::string>& among) const;
  // The same validity rule for a key already chosen by fingerprint (primary or subkey).
  Result<KeyChoice> usable_key(std::string_view fingerprint, Usage usage) const;

  // Create keys/signatures and validate keys as if now were `t` (tests); nullopt = the
  // clock. RNP validates a key when it is imported or generated and keeps the result, so
  // the time applies to keys that enter the keyring afterwards.
  void set_time(std::optional<Seconds> t);
  std::optional<Seconds> time() const;

  // Internal to src/openpgp: the RNP context.
  rnp_ffi_st* ffi() const;

 private:
  Keyring() = default;
  Result<KeyChoice> choose_for_address(std::string_view address, Usage usage,
                                       const std::vector<std::string>* among) const;
  std::unique_ptr<detail::KeyringState> state_;
};

}  // namespace mailseal::openpgp
