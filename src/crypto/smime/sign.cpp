// smime::sign: CMS signed-data with SHA-256, signer certificate and chain included.
// Detached signatures digest the content through a BIO chain (constant memory); opaque
// signed-data streams the content into the output (CMS_STREAM).
#include <openssl/err.h>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {
namespace {

bool supported_signing_key(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
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
  if (!CMS_add1_signer(cms.get(), signer.cert, signer.key, EVP_sha256(), flags))
    return Status::fail(Failure::internal, "CMS_add1_signer: " + drain_openssl_errors());

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
