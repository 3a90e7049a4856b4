// Certificate issuance with OpenSSL 3 (X509V3 extension strings, as in openssl.cnf).

#include "keys/cert_builder.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "keys/x509_util.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

// Certificates start a few minutes in the past so a peer whose clock is slightly behind
// does not see them as not yet valid.
constexpr std::int64_t kBackdate = 300;

bool random_serial(X509* cert) {
  // 159 random bits: positive, unique, unpredictable (CA/B Forum asks for >= 64 bits).
  BIGNUM* bn = BN_new();
  bool ok = bn && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Built directly rather than from an "email:..." string: a quoted local part may hold
// commas, which the extension-string parser would split on.
bool add_email_san(X509* cert, std::string_view address) {
  GENERAL_NAMES* names = GENERAL_NAMES_new();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  bool ok = names && gn && ia5 &&
            ASN1_STRING_set(ia5, address.data(), static_cast<int>(address.size())) == 1;
  if (ok) {
    GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
    ia5 = nullptr;
    ok = sk_GENERAL_NAME_push(names, gn) > 0;
    if (ok) gn = nullptr;
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  ASN1_IA5STRING_free(ia5);
  GENERAL_NAME_free(gn);
  GENERAL_NAMES_free(names);
  return ok;
}

const EVP_MD* digest_for(EVP_PKEY* signer) {
  return EVP_PKEY_get_bits(signer) == 384 && EVP_PKEY_get_base_id(signer) == EVP_PKEY_EC
             ? EVP_sha384()
             : EVP_sha256();
}

// Common skeleton: version 3, serial, validity, subject CN, public key, issuer name.
Result<crypto::X509Ptr> skeleton(EVP_PKEY* key, std::string_view cn, X509* issuer, Validity v) {
  crypto::X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 || !random_serial(cert.get())) {
    return fail("cannot create certificate: " + openssl_error());
  }
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(v.now - kBackdate)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                     static_cast<time_t>(v.now + std::int64_t{v.days} * 86400))) {
    return fail("cannot set certificate validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  cn = cn.substr(0, 64);  // ub-common-name (RFC 5280 A.1); the SAN carries the full address
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return fail("cannot set certificate names: " + openssl_error());
  }
  return cert;
}

}  // namespace

std::optional<KeyAlgorithm> parse_key_algorithm(std::string_view text) {
  std::string t;
  for (char c : util::to_lower(text)) {
    if (c != '-' && c != '_') t.push_back(c);
  }
  if (t.starts_with("ec")) t.erase(0, 2);
  if (t == "rsa2048") return KeyAlgorithm::rsa2048;
  if (t == "rsa3072" || t == "rsa") return KeyAlgorithm::rsa3072;
  if (t == "rsa4096") return KeyAlgorithm::rsa4096;
  if (t == "p256" || t == "prime256v1" || t == "secp256r1") return KeyAlgorithm::p256;
  if (t == "p384" || t == "secp384r1") return KeyAlgorithm::p384;
  return std::nullopt;
}

Result<crypto::PKeyPtr> generate_key(KeyAlgorithm alg) {
  EVP_PKEY* k = nullptr;
  switch (alg) {
    case KeyAlgorithm::rsa2048:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      break;
    case KeyAlgorithm::rsa3072:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
    case KeyAlgorithm::rsa4096:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096});
      break;
    case KeyAlgorithm::p256:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyAlgorithm::p384:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
  }
  if (!k) return fail("key generation failed: " + openssl_error());
  return crypto::PKeyPtr(k);
}

Result<crypto::X509Ptr> make_ca_certificate(EVP_PKEY* key, std::string_view common_name,
                                            const std::vector<std::string>& domains,
                                            Validity validity) {
  auto cert = skeleton(key, common_name, nullptr, validity);
  if (!cert) return cert;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert->get(), cert->get(), nullptr, nullptr, 0);
  bool ok = add_ext(cert->get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
            add_ext(cert->get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
            add_ext(cert->get(), &ctx, NID_subject_key_identifier, "hash");
  if (ok && !domains.empty()) {
    // RFC 5280 4.2.1.10: an rfc822Name constraint "example.org" matches every mailbox
    // on that host. It must be critical.
    std::string nc = "critical";
    for (const auto& d : domains) nc += ",permitted;email:" + util::to_lower(d);
    ok = add_ext(cert->get(), &ctx, NID_name_constraints, nc);
  }
  if (!ok || X509_sign(cert->get(), key, digest_for(key)) <= 0) {
    return fail("cannot build CA certificate: " + openssl_error());
  }
  return cert;
}

Result<crypto::X509Ptr> make_user_certificate(EVP_PKEY* key, std::string_view address, X509* issuer,
                                              EVP_PKEY* issuer_key, Validity validity) {
  auto cert = skeleton(key, address, issuer, validity);
  if (!cert) return cert;
  X509* signer_cert = issuer ? issuer : cert->get();
  EVP_PKEY* signer_key = issuer ? issuer_key : key;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer_cert, cert->get(), nullptr, nullptr, 0);
  bool ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;
  // RFC 8550 4.4.2: digitalSignature for signing; keyEncipherment (RSA key transport) or
  // keyAgreement (ECDH) for encryption.
  std::string ku =
      ec ? "critical,digitalSignature,keyAgreement" : "critical,digitalSignature,keyEncipherment";
  bool ok = add_ext(cert->get(), &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
            add_ext(cert->get(), &ctx, NID_key_usage, ku) &&
            add_ext(cert->get(), &ctx, NID_ext_key_usage, "emailProtection") &&
            add_email_san(cert->get(), address) &&
            add_ext(cert->get(), &ctx, NID_subject_key_identifier, "hash") &&
            (!issuer || add_ext(cert->get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!ok || X509_sign(cert->get(), signer_key, digest_for(signer_key)) <= 0) {
    return fail("cannot build certificate: " + openssl_error());
  }
  return cert;
}

}  // namespace mailseal::keys
