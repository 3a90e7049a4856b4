// smime::sign: CMS signed-data with SHA-256, signer certificate and chain included.
// Detached signatures digest the content through a BIO chain (constant memory); opaque
// signed-data streams the content into the output (CMS_STREAM).
#include <openssl/err.h>
#include <openssl/x509.h>

#include <string>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {
namespace {

bool supported_signing_key(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
}

// The SMIMECapabilities attribute (RFC 8551 2.5.2) exactly as OpenSSL builds it, built
// once: CMS_add1_signer looks every cipher of the list up in the providers again for
// each signature (2-3 % of a seal's CPU in perf).
const std::string& standard_smime_capabilities() {
  static const std::string der = [] {
    STACK_OF(X509_ALGOR)* caps = nullptr;
    std::string out;
    if (CMS_add_standard_smimecap(&caps) == 1) {
      unsigned char* p = nullptr;
      int n = i2d_X509_ALGORS(caps, &p);
      if (n > 0) out.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
      OPENSSL_free(p);
    }
    sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
    return out;
  }();
  return der;
}

}  // namespace

Status sign(BIO* content, BIO* out, const SignerKey& signer, const SignOptions& options) {
  ERR_clear_error();
  if (!content || !out) return Status::fail(Failure::bad_input, "missing stream");
  if (!signer.cert || !signer.key) return Status::fail(Failure::bad_input, "no signer key");
  if (!supported_signing_key(signer.key))
    return Status::fail(Failure::bad_input, "signer key is neither RSA nor EC");
  if (X509_check_private_key(signer.cert, signer.key) != 1) {
    ERR_clear_error();
    return Status::fail(Failure::bad_input, "signer key does not match its certificate");
  }
  X509StackPtr chain(sk_X509_new_null());
  for (X509* c : signer.chain) sk_X509_push(chain.get(), share(c).release());

  unsigned int flags = CMS_BINARY | CMS_PARTIAL;
  flags |= options.opaque ? CMS_STREAM : CMS_DETACHED;
  CmsPtr cms(CMS_sign(nullptr, nullptr, chain.get(), nullptr, flags));
  if (!cms) return Status::fail(Failure::internal, "CMS_sign: " + drain_openssl_errors());
  const std::string& caps = standard_smime_capabilities();
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), signer.cert, signer.key, EVP_sha256(),
                                       caps.empty() ? flags : flags | CMS_NOSMIMECAP);
  if (!si) return Status::fail(Failure::internal, "CMS_add1_signer: " + drain_openssl_errors());
  if (!caps.empty() && CMS_signed_add1_attr_by_NID(si, NID_SMIMECapabilities, V_ASN1_SEQUENCE,
                                                   caps.data(), static_cast<int>(caps.size())) != 1)
    return Status::fail(Failure::internal, "SMIMECapabilities: " + drain_openssl_errors());

  if (options.opaque) {
    if (i2d_CMS_bio_stream(out, cms.get(), content, flags) != 1 || BIO_flush(out) != 1)
      return Status::fail(Failure::io, "writing signed-data: " + drain_openssl_errors());
    return Status::success();
  }
  if (CMS_final(cms.get(), content, nullptr, flags) != 1)
    return Status::fail(Failure::io, "digesting content: " + drain_openssl_errors());
  if (i2d_CMS_bio(out, cms.get()) != 1 || BIO_flush(out) != 1)
    return Status::fail(Failure::io, "writing signature: " + drain_openssl_errors());
  return Status::success();
}

}  // namespace mailseal::crypto::smime
