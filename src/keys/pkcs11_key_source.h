// Pkcs11KeySource: S/MIME secret keys that never leave a PKCS#11 token. Signing and
// decryption happen in the token; the gateway gets an EVP_PKEY whose operations libp11
// forwards to the token (C_Sign, C_Decrypt, C_DeriveKey), so CMS_sign / CMS_decrypt work
// unchanged (RSA PKCS#1 v1.5 and OAEP, ECDSA, ECDH).
//
// What the token holds per identity: the private key and its X.509 certificate, paired by
// CKA_ID (`mailseal keys generate --token` writes both, and the issuing CA certificate,
// which is sent along as the chain). The certificate is also filed, public only, in the
// SQLite store, which keeps answering public lookups: find_public() here returns nothing,
// so a token outage holds back only mail that needs a secret key.
//
// Failure handling (docs/KEYS.md "PKCS#11 token"): module missing, token absent, wrong
// PIN or a token that stopped answering -> SourceError{"pkcs11", reason}, which the
// filters turn into 451 4.7.0: the client retries later, nothing is lost. Attempts are
// spaced (kRetrySeconds) and a PIN the token refused is not offered again until the PIN
// file changes, so a wrong PIN cannot lock the token by retries.
//
// Threads: lookups serialise on one mutex (the token's identities are read once); the
// keys handed out are used by many crypto threads at once, which libp11 supports (its
// session pool has its own lock; tests/unit/keys/pkcs11_key_source_test.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "keys/key_source.h"
#include "keys/pkcs11_settings.h"
#include "keys/result.h"

struct PKCS11_ctx_st;
struct PKCS11_slot_st;
struct PKCS11_cert_st;

namespace mailseal::keys {

class Pkcs11KeySource final : public KeySource {
 public:
  // Told about changes of state only (usable <-> unusable, with the reason), never per
  // message: the daemon logs these lines.
  using Notify = std::function<void(bool usable, const std::string& detail)>;
  static constexpr std::int64_t kRetrySeconds = 2;

  explicit Pkcs11KeySource(Pkcs11Settings settings, std::function<std::int64_t()> now = {},
                           Notify notify = {});
  ~Pkcs11KeySource() override;
  Pkcs11KeySource(const Pkcs11KeySource&) = delete;
  Pkcs11KeySource& operator=(const Pkcs11KeySource&) = delete;

  std::string name() const override { return "pkcs11"; }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;
  // S/MIME keys valid now for the address, newest first. OpenPGP: none (RNP cannot use
  // token keys; see docs/KEYS.md).
  std::vector<SecretKeyRecord> find_secret(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;
  // The certificate is checked before the key is fetched from the token.
  std::vector<SecretKeyRecord> find_secret_for(std::string_view address, KeyKind kind,
                                               const std::function<bool(X509*)>& wanted,
                                               std::optional<SourceError>& error) override;
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<SourceError>& error) override;
  std::vector<crypto::X509CrlPtr> crls(std::optional<SourceError>& error) override;

  // Connects and logs in now (start-up check); the reason when the token is unusable.
  Status probe();
  // The addresses the token holds keys for (after a successful probe), for diagnostics.
  std::vector<std::string> addresses();

 private:
  struct Identity {
    crypto::X509Ptr cert;
    PKCS11_cert_st* token_cert = nullptr;  // owned by libp11's slot list
    std::vector<std::string> addresses;
    std::string fingerprint;
    std::int64_t not_before = 0, not_after = 0;
    std::vector<crypto::X509Ptr> chain;
    crypto::PKeyPtr key;  // fetched on first use, then shared
  };
  Status ensure();  // mu_ held
  Status connect();
  Status login();
  Status load_identities();
  Status fail_state(std::string reason);
  std::vector<SecretKeyRecord> lookup(std::string_view address, KeyKind kind,
                                      const std::function<bool(X509*)>* wanted,
                                      std::optional<SourceError>& error);

  Pkcs11Settings settings_;
  std::function<std::int64_t()> now_;
  Notify notify_;

  std::mutex mu_;
  PKCS11_ctx_st* ctx_ = nullptr;
  PKCS11_slot_st* slots_ = nullptr;
  unsigned nslots_ = 0;
  PKCS11_slot_st* slot_ = nullptr;
  bool loaded_ = false;  // identities read; from then on the slot list is never rebuilt
  std::vector<Identity> identities_;
  bool usable_ = false;
  bool reported_ = false;  // notify_ called at least once
  std::string last_error_;
  std::int64_t retry_at_ = 0;
  std::string refused_pin_;  // SHA-256 (hex) of a PIN the token refused; never the PIN
};

}  // namespace mailseal::keys
