// open() and verify_detached() over rnp_op_verify (see open.h). Order matters: I/O, then
// decryption and integrity, then signatures; the verdict is set to valid only at the end,
// after every signature has been looked at (one bad signature spoils the message).
#include "openpgp/open.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "openpgp/key_handles.h"
#include "openpgp/stream_adapter.h"

namespace mailseal::openpgp {

using namespace detail;

namespace {

void set(Verdict& v, VerdictStatus s, std::string reason) {
  v.status = s;
  v.reason = std::move(reason);
}

// RNP's key provider: asks OpenOptions::find_certificate and imports public keys only.
void provide_key(rnp_ffi_t ffi, void* ctx, const char* id_type, const char* id, bool secret) {
  const auto* options = static_cast<const OpenOptions*>(ctx);
  if (secret || !options || !options->find_certificate || !id_type || !id) return;
  try {
    for (const auto& blob : options->find_certificate(id_type, id)) {
      rnp_input_t raw = nullptr;
      if (rnp_input_from_memory(&raw, reinterpret_cast<const uint8_t*>(blob.data()), blob.size(),
                                false) != RNP_SUCCESS)
        continue;
      InputPtr in(raw);
      RnpString results;
      (void)rnp_import_keys(ffi, in.get(), RNP_LOAD_SAVE_PUBLIC_KEYS, results.out());
    }
  } catch (...) {  // must not unwind through RNP
  }
}

// Moves the keyring's clock forward by the allowed skew for one verification.
class SkewedClock {
 public:
  SkewedClock(Keyring& keyring, std::chrono::seconds skew) : keyring_(keyring) {
    if (skew.count() <= 0) return;
    auto now = keyring.time().value_or(
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
    auto t = static_cast<uint64_t>((now + skew).time_since_epoch().count());
    active_ = rnp_set_timestamp(keyring.ffi(), t) == RNP_SUCCESS;
  }
  ~SkewedClock() {
    if (active_) keyring_.set_time(keyring_.time());  // back to the clock (or test time)
  }
  SkewedClock(const SkewedClock&) = delete;
  SkewedClock& operator=(const SkewedClock&) = delete;

 private:
  Keyring& keyring_;
  bool active_ = false;
};

bool install_key_provider(rnp_ffi_t ffi, const OpenOptions& options, Verdict& v) {
  rnp_result_t rc = rnp_ffi_set_key_provider(ffi, provide_key, const_cast<OpenOptions*>(&options));
  if (rc == RNP_SUCCESS) return true;
  set(v, VerdictStatus::malformed, rnp_error("rnp_ffi_set_key_provider", rc));
  return false;
}

// Facts about one signature, and how it counts.
struct SigFacts {
  VerdictStatus status = VerdictStatus::bad_signature;
  std::string reason = "signature not checked";
  std::string signer_fpr, key_fpr, key_id, hash, alg;
  std::vector<std::string> emails;
  std::optional<std::chrono::sys_seconds> created;
  // RNP said invalid and the signer's key (or the signing subkey) is revoked: RNP 0.16
  // does not check a signature whose key is not valid, so "invalid" may just mean
  // "revoked" (recheck_revoked() tells the two apart).
  bool revoked_signer = false;
};

SigFacts check_signature(rnp_ffi_t ffi, rnp_op_verify_signature_t sig) {
  SigFacts f;
  f.hash = get_string(rnp_op_verify_signature_get_hash, sig);
  rnp_signature_handle_t raw_sig = nullptr;
  if (rnp_op_verify_signature_get_handle(sig, &raw_sig) == RNP_SUCCESS) {
    SignaturePtr handle(raw_sig);
    f.key_id = get_string(rnp_signature_get_keyid, handle.get());
    f.alg = get_string(rnp_signature_get_alg, handle.get());
  }
  uint32_t created = 0, expires = 0;
  if (rnp_op_verify_signature_get_times(sig, &created, &expires) == RNP_SUCCESS && created)
    f.created = std::chrono::sys_seconds(std::chrono::seconds(created));
  rnp_key_handle_t raw_key = nullptr;
  if (rnp_op_verify_signature_get_key(sig, &raw_key) == RNP_SUCCESS && raw_key) {
    KeyPtr key(raw_key);
    f.key_fpr = get_string(rnp_key_get_fprint, key.get());
    if (auto primary = primary_of(ffi, key.get())) {
      if (auto info = describe_key(primary.get())) {
        f.signer_fpr = info->fingerprint();
        f.emails = info->emails();
      }
    }
  }
  rnp_result_t st = rnp_op_verify_signature_get_status(sig);
  if (st == RNP_ERROR_KEY_NOT_FOUND) {
    f.status = VerdictStatus::unknown_signer;
    f.reason = "no certificate for signer key ID " + f.key_id;
    return f;
  }
  if (st == RNP_ERROR_SIGNATURE_EXPIRED) {
    f.status = VerdictStatus::expired_key;
    // RNP also gives this for a signature dated after its "now" (sender clock ahead,
    // even by one second): not a forgery, so it is not bad_signature.
    f.reason = "the signature has expired or is dated in the future (clock skew)";
    return f;
  }
  if (st != RNP_SUCCESS) {
    f.status = VerdictStatus::bad_signature;
    f.reason = rnp_error("signature", st);
    KeyPtr key = f.key_fpr.empty() ? nullptr : locate_key(ffi, f.key_fpr);
    KeyPtr primary = f.signer_fpr.empty() ? nullptr : locate_key(ffi, f.signer_fpr);
    if (key && primary)
      f.revoked_signer =
          describe_subkey(key.get()).revoked || describe_subkey(primary.get()).revoked;
    return f;
  }
  // Cryptographically good: now the state of the signing key and its primary, today.
  KeyPtr key = locate_key(ffi, f.key_fpr);
  KeyPtr primary = locate_key(ffi, f.signer_fpr);
  if (!key || !primary) {
    f.status = VerdictStatus::unknown_signer;
    f.reason = "signer key not found after verification";
    return f;
  }
  SubkeyInfo k = describe_subkey(key.get()), p = describe_subkey(primary.get());
  if (k.revoked || p.revoked) {
    f.status = VerdictStatus::revoked_key;
    f.reason = "signer key " + f.signer_fpr + " is revoked";
  } else if (k.expired || p.expired) {
    f.status = VerdictStatus::expired_key;
    f.reason = "signer key " + f.signer_fpr + " has expired";
  } else if (!k.valid || !p.valid) {
    f.status = VerdictStatus::unknown_signer;
    f.reason = "signer key " + f.signer_fpr + " has no valid self-signature";
  } else {
    f.status = VerdictStatus::valid;
    f.reason = "good signature by " + f.signer_fpr;
  }
  return f;
}

// Lower is worse; the worst signature decides, except that a good one beats the
// "could not check" kinds (unknown / expired / revoked) of the others.
int rank(VerdictStatus s) {
  switch (s) {
    case VerdictStatus::bad_signature:
      return 0;
    case VerdictStatus::valid:
      return 1;
    case VerdictStatus::revoked_key:
      return 2;
    case VerdictStatus::expired_key:
      return 3;
    default:
      return 4;  // unknown_signer
  }
}

void classify_signatures(rnp_ffi_t ffi, rnp_op_verify_t op, Verdict& v) {
  size_t n = 0;
  if (rnp_op_verify_get_signature_count(op, &n) != RNP_SUCCESS) n = 0;
  v.signature_count = n;
  if (n == 0) {
    set(v, VerdictStatus::no_signature, "the message is not signed");
    return;
  }
  std::optional<SigFacts> decisive;
  // The revoked keys whose signatures RNP called invalid; any other invalid signature
  // means the message is falsified whatever the recheck would say.
  std::vector<std::string> revoked_bad;
  bool other_bad = false;
  for (size_t i = 0; i < n; ++i) {
    rnp_op_verify_signature_t sig = nullptr;
    if (rnp_op_verify_get_signature_at(op, i, &sig) != RNP_SUCCESS) {
      set(v, VerdictStatus::malformed, "cannot read signature " + std::to_string(i));
      return;
    }
    SigFacts f = check_signature(ffi, sig);
    v.signature_keys.push_back({f.key_id, f.signer_fpr});
    if (f.status == VerdictStatus::bad_signature) {
      if (!f.revoked_signer)
        other_bad = true;
      else if (std::find(revoked_bad.begin(), revoked_bad.end(), f.signer_fpr) == revoked_bad.end())
        revoked_bad.push_back(f.signer_fpr);
    }
    if (!decisive || rank(f.status) < rank(decisive->status)) decisive = std::move(f);
  }
  v.signer_fingerprint = decisive->signer_fpr;
  v.signing_key_fingerprint = decisive->key_fpr;
  v.signer_key_id = decisive->key_id;
  v.signer_emails = decisive->emails;
  v.hash_algorithm = decisive->hash;
  v.pubkey_algorithm = decisive->alg;
  v.signed_at = decisive->created;
  set(v, decisive->status, decisive->reason);
  // One revoked signer whose signatures are the only invalid ones: worth a recheck.
  if (!other_bad && revoked_bad.size() == 1) v.revoked_recheck = revoked_bad.front();
}

void keep_unless_revocation(rnp_ffi_t, void*, rnp_signature_handle_t sig, uint32_t* action) {
  std::string type = get_string(rnp_signature_get_type, sig);
  *action = type == "key revocation" || type == "subkey revocation" ? RNP_KEY_SIGNATURE_REMOVE
                                                                    : RNP_KEY_SIGNATURE_KEEP;
}

// A verdict "bad signature" whose only invalid signatures were made by one revoked key
// (v.revoked_recheck): the same check is run again (`again`) in a keyring that holds only
// that key with its revocation signatures removed (plus, for an encrypted message, the
// secret key that decrypted it). Does the signature match there, the key's revocation is
// the finding: revoked_key, for [open] revoked to decide. Otherwise (content or signature
// tampered) it stays bad_signature: a later revocation never turns a forgery into less.
void recheck_revoked(Keyring& keyring, Verdict& v, const std::function<Verdict(Keyring&)>& again) {
  const std::string fpr = std::move(v.revoked_recheck);
  v.revoked_recheck.clear();
  if (fpr.empty() || v.status != VerdictStatus::bad_signature) return;
  auto pub = keyring.export_public(fpr, false);
  auto fresh = Keyring::create();
  if (!pub || !fresh) return;
  fresh->set_time(keyring.time());
  if (!fresh->add_stored_key(pub.value(), fpr)) return;
  KeyPtr key = locate_key(fresh->ffi(), fpr);
  if (!key ||
      rnp_key_remove_signatures(key.get(), 0, keep_unless_revocation, nullptr) != RNP_SUCCESS)
    return;
  SubkeyInfo primary = describe_subkey(key.get());
  if (primary.revoked || !primary.valid) return;
  if (v.encrypted) {
    std::string owner = keyring.primary_fingerprint_of(v.decryption_key_id);
    if (owner.empty()) return;
    auto secret = keyring.export_secret(owner, false);
    if (!secret || !fresh->add_stored_key(secret->view(), owner)) return;
  }
  Verdict w = again(fresh.value());
  if (w.status != VerdictStatus::valid || w.signer_fingerprint != v.signer_fingerprint) return;
  set(v, VerdictStatus::revoked_key,
      "signer key " + v.signer_fingerprint + " is revoked (the signature itself matches)");
}

// Decryption and integrity facts; false when the message must be refused already.
bool classify_protection(rnp_op_verify_t op, rnp_result_t rc, Verdict& v) {
  RnpString mode, cipher;
  bool valid = false;
  if (rnp_op_verify_get_protection_info(op, mode.out(), cipher.out(), &valid) != RNP_SUCCESS) {
    set(v, VerdictStatus::malformed, "cannot read the protection info");
    return false;
  }
  v.protection = mode.str();
  v.cipher = cipher.str();
  size_t recipients = 0, symenc = 0;
  (void)rnp_op_verify_get_recipient_count(op, &recipients);
  (void)rnp_op_verify_get_symenc_count(op, &symenc);
  rnp_recipient_handle_t used = nullptr;
  if (rnp_op_verify_get_used_recipient(op, &used) == RNP_SUCCESS && used)
    v.decryption_key_id = get_string(rnp_recipient_get_keyid, used);
  bool encrypted_input =
      recipients > 0 || symenc > 0 || (v.protection != "none" && !v.protection.empty());
  v.encrypted = encrypted_input;
  if (!encrypted_input) return true;
  if (v.decryption_key_id.empty() &&
      (rc == RNP_ERROR_NO_SUITABLE_KEY || rc == RNP_ERROR_DECRYPT_FAILED ||
       rc == RNP_ERROR_KEY_NOT_FOUND || v.protection == "none")) {
    set(v, VerdictStatus::decrypt_failed,
        "none of our keys is a recipient (" + std::to_string(recipients) + " recipients)");
    return false;
  }
  if (v.protection == "cfb") {
    set(v, VerdictStatus::integrity_failure,
        "encrypted without integrity protection (SED packet, no MDC)");
    return false;
  }
  if (rc != RNP_SUCCESS && rc != RNP_ERROR_SIGNATURE_INVALID) {
    set(v, VerdictStatus::integrity_failure, rnp_error("decryption", rc));
    return false;
  }
  if (!valid) {
    set(v, VerdictStatus::integrity_failure, "integrity check (MDC/AEAD) failed");
    return false;
  }
  return true;
}

// Shared tail of open() and verify_detached(): rc of execute -> Verdict.
Verdict conclude(rnp_ffi_t ffi, rnp_op_verify_t op, rnp_result_t rc, bool detached) {
  Verdict v;
  if (!detached && !classify_protection(op, rc, v)) return v;
  if (!v.encrypted && rc != RNP_SUCCESS && rc != RNP_ERROR_SIGNATURE_INVALID &&
      rc != RNP_ERROR_SIGNATURE_EXPIRED && rc != RNP_ERROR_KEY_NOT_FOUND &&
      rc != RNP_ERROR_NO_SIGNATURES_FOUND) {
    set(v, VerdictStatus::malformed, rnp_error("parsing", rc));
    return v;
  }
  classify_signatures(ffi, op, v);
  return v;
}

Verdict open_once(Keyring& keyring, Source message, Sink plaintext, const OpenOptions& options);
Verdict verify_detached_once(Keyring& keyring, Source data, Source signature,
                             const OpenOptions& options);

}  // namespace

Verdict open(Keyring& keyring, Source message, Sink plaintext, const OpenOptions& options) {
  Verdict v = open_once(keyring, message, plaintext, options);
  if (v.revoked_recheck.empty()) return v;
  recheck_revoked(keyring, v, [&](Keyring& fresh) {
    // The plaintext was written by the first pass; this one only checks.
    core::MessageBody discard(std::filesystem::temp_directory_path());
    OpenOptions plain;
    plain.clock_skew = options.clock_skew;
    return open_once(fresh, message, discard, plain);
  });
  return v;
}

Verdict verify_detached(Keyring& keyring, Source data, Source signature,
                        const OpenOptions& options) {
  Verdict v = verify_detached_once(keyring, data, signature, options);
  if (v.revoked_recheck.empty()) return v;
  recheck_revoked(keyring, v, [&](Keyring& fresh) {
    OpenOptions plain;  // no key provider: only the unrevoked copy may be used
    plain.clock_skew = options.clock_skew;
    return verify_detached_once(fresh, data, signature, plain);
  });
  return v;
}

namespace {

Verdict open_once(Keyring& keyring, Source message, Sink plaintext, const OpenOptions& options) {
  Verdict v;
  auto in = InputAdapter::open(message);
  auto out = OutputAdapter::open(plaintext);
  if (!in || !out) {
    set(v, VerdictStatus::io_error, !in ? in.error().reason : out.error().reason);
    return v;
  }
  rnp_ffi_t ffi = keyring.ffi();
  rnp_op_verify_t raw = nullptr;
  rnp_result_t rc = rnp_op_verify_create(&raw, ffi, in.value()->get(), out.value()->get());
  if (rc != RNP_SUCCESS) {
    set(v, VerdictStatus::malformed, rnp_error("rnp_op_verify_create", rc));
    return v;
  }
  OpVerifyPtr op(raw);
  // Signatures are judged here, not by RNP's pass/fail, so that decryption problems and
  // signature problems stay distinguishable.
  rc = rnp_op_verify_set_flags(op.get(), RNP_VERIFY_IGNORE_SIGS_ON_DECRYPT);
  if (rc != RNP_SUCCESS) {
    set(v, VerdictStatus::malformed, rnp_error("rnp_op_verify_set_flags", rc));
    return v;
  }
  if (!install_key_provider(ffi, options, v)) return v;
  {
    SkewedClock clock(keyring, options.clock_skew);
    rc = rnp_op_verify_execute(op.get());
  }
  (void)rnp_ffi_set_key_provider(ffi, nullptr, nullptr);  // only clears a pointer
  if (in.value()->read_failed() || out.value()->write_failed()) {
    set(v, VerdictStatus::io_error, "reading the message or writing the plaintext failed");
    return v;
  }
  v = conclude(ffi, op.get(), rc, false);
  op.reset();
  if (auto st = out.value()->finish(); !st) set(v, VerdictStatus::io_error, st.error().reason);
  return v;
}

Verdict verify_detached_once(Keyring& keyring, Source data, Source signature,
                             const OpenOptions& options) {
  Verdict v;
  auto in = InputAdapter::open(data);
  auto sig = InputAdapter::open(signature);
  if (!in || !sig) {
    set(v, VerdictStatus::io_error, !in ? in.error().reason : sig.error().reason);
    return v;
  }
  rnp_ffi_t ffi = keyring.ffi();
  rnp_op_verify_t raw = nullptr;
  rnp_result_t rc = rnp_op_verify_detached_create(&raw, ffi, in.value()->get(), sig.value()->get());
  if (rc != RNP_SUCCESS) {
    set(v, VerdictStatus::malformed, rnp_error("rnp_op_verify_detached_create", rc));
    return v;
  }
  OpVerifyPtr op(raw);
  if (!install_key_provider(ffi, options, v)) return v;
  {
    SkewedClock clock(keyring, options.clock_skew);
    rc = rnp_op_verify_execute(op.get());
  }
  (void)rnp_ffi_set_key_provider(ffi, nullptr, nullptr);  // only clears a pointer
  if (in.value()->read_failed() || sig.value()->read_failed()) {
    set(v, VerdictStatus::io_error, "reading the data or the signature failed");
    return v;
  }
  return conclude(ffi, op.get(), rc, true);
}

}  // namespace

}  // namespace mailseal::openpgp
