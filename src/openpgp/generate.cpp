// Generates a primary key and one encryption subkey with rnp_op_generate (see
// generate.h). Preferences advertised: AES-256/AES-128, SHA-256/SHA-512, no compression.
#include "openpgp/generate.h"

#include "openpgp/key_handles.h"
#include "openpgp/user_id.h"

namespace mailseal::openpgp {

using namespace detail;

namespace {

Status set_algorithm(rnp_op_generate_t op, KeyAlgorithm alg, bool primary) {
  if (alg == KeyAlgorithm::rsa3072) {
    MAILSEAL_RNP_TRY(rnp_op_generate_set_bits(op, 3072));
  } else if (!primary) {
    MAILSEAL_RNP_TRY(rnp_op_generate_set_curve(op, "Curve25519"));
  }
  return success();
}

Status set_common(rnp_op_generate_t op, const GenerateOptions& options) {
  // RNP's own default is two years; mailseal states the lifetime explicitly (0 = none).
  auto s = options.lifetime ? options.lifetime->count() : 0;
  if (s < 0 || s > 0xFFFFFFFFLL || (options.lifetime && s == 0))
    return fail(ErrorKind::bad_input, "key lifetime out of range");
  MAILSEAL_RNP_TRY(rnp_op_generate_set_expiration(op, static_cast<uint32_t>(s)));
  MAILSEAL_RNP_TRY(rnp_op_generate_set_hash(op, RNP_ALGNAME_SHA256));
  return success();
}

Status set_preferences(rnp_op_generate_t op) {
  MAILSEAL_RNP_TRY(rnp_op_generate_clear_pref_ciphers(op));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_pref_cipher(op, RNP_ALGNAME_AES_256));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_pref_cipher(op, RNP_ALGNAME_AES_128));
  MAILSEAL_RNP_TRY(rnp_op_generate_clear_pref_hashes(op));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_pref_hash(op, RNP_ALGNAME_SHA256));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_pref_hash(op, RNP_ALGNAME_SHA512));
  MAILSEAL_RNP_TRY(rnp_op_generate_clear_pref_compression(op));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_pref_compression(op, "Uncompressed"));
  return success();
}

Result<KeyPtr> generate_primary(rnp_ffi_t ffi, const std::string& uid,
                                const GenerateOptions& options) {
  bool rsa = options.algorithm == KeyAlgorithm::rsa3072;
  rnp_op_generate_t raw = nullptr;
  MAILSEAL_RNP_TRY(rnp_op_generate_create(&raw, ffi, rsa ? RNP_ALGNAME_RSA : RNP_ALGNAME_EDDSA));
  OpGeneratePtr op(raw);
  if (auto st = set_algorithm(op.get(), options.algorithm, true); !st) return st.error();
  if (auto st = set_common(op.get(), options); !st) return st.error();
  if (auto st = set_preferences(op.get()); !st) return st.error();
  MAILSEAL_RNP_TRY(rnp_op_generate_set_userid(op.get(), uid.c_str()));
  MAILSEAL_RNP_TRY(rnp_op_generate_clear_usage(op.get()));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_usage(op.get(), "sign"));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_usage(op.get(), "certify"));
  MAILSEAL_RNP_TRY(rnp_op_generate_execute(op.get()));
  rnp_key_handle_t key = nullptr;
  MAILSEAL_RNP_TRY(rnp_op_generate_get_key(op.get(), &key));
  return KeyPtr(key);
}

Status generate_subkey(rnp_ffi_t ffi, rnp_key_handle_t primary, const GenerateOptions& options) {
  bool rsa = options.algorithm == KeyAlgorithm::rsa3072;
  rnp_op_generate_t raw = nullptr;
  MAILSEAL_RNP_TRY(
      rnp_op_generate_subkey_create(&raw, ffi, primary, rsa ? RNP_ALGNAME_RSA : RNP_ALGNAME_ECDH));
  OpGeneratePtr op(raw);
  if (auto st = set_algorithm(op.get(), options.algorithm, false); !st) return st.error();
  if (auto st = set_common(op.get(), options); !st) return st.error();
  MAILSEAL_RNP_TRY(rnp_op_generate_clear_usage(op.get()));
  MAILSEAL_RNP_TRY(rnp_op_generate_add_usage(op.get(), "encrypt"));
  MAILSEAL_RNP_TRY(rnp_op_generate_execute(op.get()));
  rnp_key_handle_t key = nullptr;
  MAILSEAL_RNP_TRY(rnp_op_generate_get_key(op.get(), &key));
  KeyPtr sub(key);
  return success();
}

}  // namespace

Result<KeyInfo> generate_key(Keyring& keyring, std::string_view address,
                             const GenerateOptions& options) {
  if (email_from_user_id(address) != address)
    return fail(ErrorKind::bad_input, "not an e-mail address: " + std::string(address));
  std::string uid = options.name.empty() ? "<" + std::string(address) + ">"
                                         : options.name + " <" + std::string(address) + ">";
  auto primary = generate_primary(keyring.ffi(), uid, options);
  if (!primary) return primary.error();
  if (auto st = generate_subkey(keyring.ffi(), primary->get(), options); !st) {
    (void)rnp_key_remove(primary->get(),
                         RNP_KEY_REMOVE_PUBLIC | RNP_KEY_REMOVE_SECRET | RNP_KEY_REMOVE_SUBKEYS);
    return st.error();
  }
  return describe_key(primary->get());
}

}  // namespace mailseal::openpgp
