// Options of the S/MIME seal and open filters, and the replies they give.
// Reply codes (RFC 3463 enhanced status codes; RFC 7372 adds none closer for S/MIME):
//   554 5.7.7  falsified: signature does not match, ciphertext/GCM tag damaged
//   554 5.7.5  cryptographic failure: malformed CMS or S/MIME structure, too many layers,
//              signer untrusted/expired/revoked (when the rule is reject), undecryptable
//   550 5.7.1  not authorised: From is not the envelope sender (seal), signer is not the
//              From address (open, rule reject), no certificate for a recipient (refuse),
//              no signature bound to From while the From domain is in require_signature_from
//              (open; "delivery not authorized, message refused" by local policy, RFC 3463
//              X.7.1 -- the RFC 7372 codes X.7.20-X.7.26 name DKIM/SPF checks specifically)
//   451 4.7.0  a key source failed (transient; names the source), or the revocation status
//              of a certificate could not be learnt under [revocation] ocsp = "hard-fail"
#pragma once

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "crypto/smime/smime.h"
#include "keys/harvester.h"
#include "keys/revocation_checker.h"

namespace mailseal::gateway {

enum class RecipientFallback { refuse, sign_only, plain };
enum class SenderFallback { refuse, encrypt_only };
enum class VerdictAction { reject, tag };

struct SealOptions {
  crypto::smime::Cipher cipher = crypto::smime::Cipher::aes256_cbc;
  bool rsa_oaep = false;
  bool opaque_signing = false;
  RecipientFallback no_certificate = RecipientFallback::refuse;
  SenderFallback no_secret_key = SenderFallback::refuse;
  bool allow_from_mismatch = false;  // From may differ from the envelope sender
  std::filesystem::path spill_dir = std::filesystem::temp_directory_path();
};

struct OpenOptions {
  VerdictAction from_mismatch = VerdictAction::reject;
  VerdictAction untrusted = VerdictAction::tag;
  VerdictAction expired = VerdictAction::tag;
  VerdictAction revoked = VerdictAction::reject;
  VerdictAction undecryptable = VerdictAction::tag;  // encrypted, no internal key for it
  int max_layers = 4;                                // S/MIME layers unwrapped
  int max_mime_depth = 16;
  // Domains (compared case-insensitively with the From address's domain, exact match, no
  // subdomains) whose mail must carry a signature whose signer is the From address;
  // otherwise 550 5.7.1 (see the reply table above).
  std::vector<std::string> require_signature_from;
  std::string trace_header = "X-Mailseal-Verification";
  std::optional<std::time_t> verify_time;  // default: now
  // CRL downloads and OCSP for signers whose chain is valid ([revocation]); null = only the
  // stored CRLs (checked during chain verification).
  std::shared_ptr<keys::RevocationChecker> revocation;
  // [open] harvest: where the keys of fully verified signers go (gateway/harvest.h);
  // null = not harvested.
  std::shared_ptr<keys::Harvester> harvester;
  std::filesystem::path spill_dir = std::filesystem::temp_directory_path();
};

}  // namespace mailseal::gateway
