// seal(), encrypt_only() and sign_detached() over rnp_op_encrypt / rnp_op_sign (see
// seal.h). Keys are re-checked for validity here; RNP streams from Source to Sink.
#include "openpgp/seal.h"

#include "openpgp/key_handles.h"
#include "openpgp/stream_adapter.h"

namespace mailseal::openpgp {

using namespace detail;

namespace {

Result<KeyPtr> usable_handle(Keyring& keyring, const std::string& fpr, Usage usage) {
  auto choice = keyring.usable_key(fpr, usage);
  if (!choice) return choice.error();
  auto key = locate_key(keyring.ffi(), choice->key_fingerprint);
  if (!key) return fail(ErrorKind::internal, "key vanished: " + choice->key_fingerprint);
  return key;
}

// Maps the end of an operation to a Status, preferring the I/O cause when there is one.
Status finish_op(rnp_result_t rc, const char* what, InputAdapter& in, OutputAdapter& out) {
  if (in.read_failed()) return fail(ErrorKind::io, "reading the input failed");
  if (out.write_failed()) return fail(ErrorKind::io, "writing the output failed");
  if (rc != RNP_SUCCESS) return rnp_fail(what, rc);
  return out.finish();
}

Status encrypt_impl(Keyring& keyring, Source plaintext, Sink sink,
                    const std::vector<std::string>& recipients, const std::string* signer,
                    const SealOptions& options) {
  if (recipients.empty()) return fail(ErrorKind::bad_input, "no recipients");
  std::vector<KeyPtr> keys;
  for (const auto& fpr : recipients) {
    auto key = usable_handle(keyring, fpr, Usage::encrypt);
    if (!key) return key.error();
    keys.push_back(std::move(key.value()));
  }
  KeyPtr signing;
  if (signer) {
    auto key = usable_handle(keyring, *signer, Usage::sign);
    if (!key) return key.error();
    signing = std::move(key.value());
  }
  auto in = InputAdapter::open(plaintext);
  if (!in) return in.error();
  auto out = OutputAdapter::open(sink);
  if (!out) return out.error();

  rnp_op_encrypt_t raw = nullptr;
  MAILSEAL_RNP_TRY(
      rnp_op_encrypt_create(&raw, keyring.ffi(), in.value()->get(), out.value()->get()));
  OpEncryptPtr op(raw);
  for (auto& key : keys) MAILSEAL_RNP_TRY(rnp_op_encrypt_add_recipient(op.get(), key.get()));
  if (signing) MAILSEAL_RNP_TRY(rnp_op_encrypt_add_signature(op.get(), signing.get(), nullptr));
  MAILSEAL_RNP_TRY(rnp_op_encrypt_set_cipher(op.get(), RNP_ALGNAME_AES_256));
  MAILSEAL_RNP_TRY(rnp_op_encrypt_set_hash(op.get(), RNP_ALGNAME_SHA256));
  // SEIPD v1 with MDC: what gpg 2.2 and sq 0.27 both read (no AEAD packets).
  MAILSEAL_RNP_TRY(rnp_op_encrypt_set_aead(op.get(), "None"));
  if (options.compress) {
    MAILSEAL_RNP_TRY(rnp_op_encrypt_set_compression(op.get(), "ZLIB", 6));
  } else {
    MAILSEAL_RNP_TRY(rnp_op_encrypt_set_compression(op.get(), "Uncompressed", 0));
  }
  MAILSEAL_RNP_TRY(rnp_op_encrypt_set_armor(op.get(), options.armor));
  rnp_result_t rc = rnp_op_encrypt_execute(op.get());
  op.reset();
  return finish_op(rc, "rnp_op_encrypt_execute", *in.value(), *out.value());
}

}  // namespace

Status seal(Keyring& keyring, Source plaintext, Sink out,
            const std::vector<std::string>& recipient_fingerprints,
            const std::string& signer_fingerprint, const SealOptions& options) {
  return encrypt_impl(keyring, plaintext, out, recipient_fingerprints, &signer_fingerprint,
                      options);
}

Status encrypt_only(Keyring& keyring, Source plaintext, Sink out,
                    const std::vector<std::string>& recipient_fingerprints,
                    const SealOptions& options) {
  return encrypt_impl(keyring, plaintext, out, recipient_fingerprints, nullptr, options);
}

Status sign_detached(Keyring& keyring, Source data, Sink signature,
                     const std::string& signer_fingerprint) {
  auto key = usable_handle(keyring, signer_fingerprint, Usage::sign);
  if (!key) return key.error();
  auto in = InputAdapter::open(data);
  if (!in) return in.error();
  auto out = OutputAdapter::open(signature);
  if (!out) return out.error();
  rnp_op_sign_t raw = nullptr;
  MAILSEAL_RNP_TRY(
      rnp_op_sign_detached_create(&raw, keyring.ffi(), in.value()->get(), out.value()->get()));
  OpSignPtr op(raw);
  MAILSEAL_RNP_TRY(rnp_op_sign_add_signature(op.get(), key->get(), nullptr));
  MAILSEAL_RNP_TRY(rnp_op_sign_set_hash(op.get(), RNP_ALGNAME_SHA256));
  MAILSEAL_RNP_TRY(rnp_op_sign_set_armor(op.get(), true));
  rnp_result_t rc = rnp_op_sign_execute(op.get());
  op.reset();
  return finish_op(rc, "rnp_op_sign_execute", *in.value(), *out.value());
}

}  // namespace mailseal::openpgp
