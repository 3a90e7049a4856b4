// smime::encrypt: EnvelopedData (AES-256-CBC) or AuthEnvelopedData (AES-256-GCM),
// streamed with CMS_STREAM. RSA recipients: PKCS#1 v1.5 or RSAES-OAEP/SHA-256 key
// transport; EC recipients: ECDH key agreement with the OpenSSL defaults (RFC 5753).
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {
namespace {

Status add_recipient(CMS_ContentInfo* cms, X509* cert, unsigned int flags, bool oaep) {
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (!pub) return Status::fail(Failure::bad_input, "recipient certificate has no public key");
  int id = EVP_PKEY_get_base_id(pub);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
    return Status::fail(Failure::bad_input, "recipient key is neither RSA nor EC");
  bool use_oaep = oaep && id == EVP_PKEY_RSA;
  CMS_RecipientInfo* ri =
      CMS_add1_recipient_cert(cms, cert, flags | (use_oaep ? CMS_KEY_PARAM : 0));
  if (!ri) return Status::fail(Failure::internal, "adding recipient: " + drain_openssl_errors());
  if (use_oaep) {
    EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    if (!pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
      return Status::fail(Failure::internal, "setting RSA-OAEP: " + drain_openssl_errors());
  }
  return Status::success();
}

}  // namespace

Status encrypt(BIO* content, BIO* out, const std::vector<X509*>& recipients,
               const EncryptOptions& options) {
  ERR_clear_error();
  if (!content || !out) return Status::fail(Failure::bad_input, "missing stream");
  if (recipients.empty()) return Status::fail(Failure::bad_input, "no recipients");
  const EVP_CIPHER* cipher =
      options.cipher == Cipher::aes256_gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
  const unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
  CmsPtr cms(CMS_encrypt(nullptr, nullptr, cipher, flags));
  if (!cms) return Status::fail(Failure::internal, "CMS_encrypt: " + drain_openssl_errors());
  for (X509* cert : recipients) {
    if (!cert) return Status::fail(Failure::bad_input, "null recipient certificate");
    Status s = add_recipient(cms.get(), cert, flags, options.rsa_oaep);
    if (!s.ok()) return s;
  }
  if (i2d_CMS_bio_stream(out, cms.get(), content, flags) != 1 || BIO_flush(out) != 1)
    return Status::fail(Failure::io, "writing enveloped data: " + drain_openssl_errors());
  return Status::success();
}

}  // namespace mailseal::crypto::smime
