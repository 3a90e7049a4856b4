// The result of opening an inbound OpenPGP message or checking a signature: one status
// the gateway maps to 250 / tag / 554 5.7.x, plus the facts for the trace header (signer
// fingerprint and e-mails, algorithms). It starts as a failure ("not checked").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailseal::openpgp {

enum class VerdictStatus {
  valid,              // integrity (if encrypted) and at least one good signature, no bad one
  bad_signature,      // a signature does not match the data: falsified
  unknown_signer,     // signed by a key we do not have (or whose self-signatures fail)
  expired_key,        // good signature by an expired key (or the signature itself expired)
  revoked_key,        // good signature by a revoked key
  no_signature,       // content is intact (decrypted with integrity) but not signed
  decrypt_failed,     // none of our secret keys is a recipient
  integrity_failure,  // tampered ciphertext, MDC mismatch, or no integrity protection
                      // at all (SED without MDC): falsified
  malformed,          // not well-formed OpenPGP data: falsified (also the initial state)
  io_error,           // reading the input or writing the output failed: temporary (4xx)
};

std::string_view verdict_status_name(VerdictStatus status);

struct Verdict {
  VerdictStatus status = VerdictStatus::malformed;
  std::string reason = "not checked";

  bool encrypted = false;         // an encrypted message was decrypted
  std::string protection;         // RNP's mode: "none", "cfb", "cfb-mdc", "aead-ocb", ...
  std::string cipher;             // "AES256", ...
  std::string decryption_key_id;  // our key that decrypted it (hex key ID)

  std::string signer_fingerprint;          // primary key of the signer ("" when unknown)
  std::string signing_key_fingerprint;     // the (sub)key that made the signature
  std::string signer_key_id;               // issuer key ID from the signature (also when unknown)
  std::vector<std::string> signer_emails;  // addresses of the signer's valid user IDs
  std::string hash_algorithm;              // "SHA256", ...
  std::string pubkey_algorithm;            // "EDDSA", "RSA", ...
  std::optional<std::chrono::sys_seconds> signed_at;
  std::size_t signature_count = 0;
  // Every signature's issuer key ID and, when its key was found, the signer's primary
  // fingerprint (the fields above describe only the decisive one): which keys the
  // verdict rests on, so a keyring reused across messages can be checked afterwards.
  struct SignatureKey {
    std::string key_id;
    std::string signer_fingerprint;
  };
  std::vector<SignatureKey> signature_keys;
  // Internal to open.cpp: RNP (0.16) calls a signature by a revoked key "invalid" without
  // checking it; the primary fingerprint of that key while the check is redone.
  std::string revoked_recheck;

  bool ok() const { return status == VerdictStatus::valid; }
  // Falsified messages are refused with 554 5.7.x before the DATA reply (issue 4).
  bool falsified() const {
    return status == VerdictStatus::bad_signature || status == VerdictStatus::integrity_failure ||
           status == VerdictStatus::malformed;
  }
  // True when `address` is one of the signer's e-mails (the From check of issue 4).
  bool signed_by(std::string_view address) const;
};

}  // namespace mailseal::openpgp
