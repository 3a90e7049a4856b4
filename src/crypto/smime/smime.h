// S/MIME 4.0 (RFC 8551) operations over OpenSSL CMS (RFC 5652): sign, encrypt, decrypt,
// verify. Pure functions: BIOs in, BIOs out, typed results; no policy, no logging.
// Input to sign/encrypt is the canonical (CRLF, 7-bit) MIME entity; outputs are DER.
#pragma once

#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "crypto/bio_adapter.h"
#include "crypto/openssl_ptr.h"
#include "crypto/smime/status.h"

namespace mailseal::crypto::smime {

// ---- sign --------------------------------------------------------------------------

struct SignerKey {
  X509* cert = nullptr;      // not owned
  EVP_PKEY* key = nullptr;   // not owned; RSA or EC (the digest is always SHA-256)
  std::vector<X509*> chain;  // intermediates sent along (not owned)
};

struct SignOptions {
  bool opaque = false;  // false: detached signature (for multipart/signed, RFC 8551 3.5.3)
};

// Detached: writes the DER signature (application/pkcs7-signature) to `out`; the content
// is read once to digest it. Opaque: streams DER signed-data with the content inside.
Status sign(BIO* content, BIO* out, const SignerKey& signer, const SignOptions& options = {});

// ---- encrypt -----------------------------------------------------------------------

enum class Cipher { aes256_cbc, aes256_gcm };

struct EncryptOptions {
  Cipher cipher = Cipher::aes256_cbc;  // gcm gives AuthEnvelopedData (RFC 5083/5084)
  bool rsa_oaep = false;               // RSAES-OAEP with SHA-256 for RSA recipients
};

// Streams DER EnvelopedData/AuthEnvelopedData to `out`. RSA recipients use key
// transport (ktri), EC recipients ECDH key agreement (kari, RFC 5753).
Status encrypt(BIO* content, BIO* out, const std::vector<X509*>& recipients,
               const EncryptOptions& options = {});

// ---- large CMS: the structure in memory, the content streamed --------------------------

// A signed-data, enveloped-data or authEnveloped-data ContentInfo (DER or BER, definite
// or indefinite lengths, content as one or many OCTET STRING chunks) whose inner content
// (eContent / encryptedContent) stays in storage. `parsed.cms` is the structure without
// that content, i.e. detached; content() opens a new BIO over the content octets, to be
// given to decrypt() or verify_opaque() as `detached_content`. Memory: the structure
// around the content (limited to max_structure bytes) plus a 64 KiB window.
class DetachedCms {
 public:
  DetachedCms();
  ~DetachedCms();
  DetachedCms(DetachedCms&&) noexcept;
  DetachedCms& operator=(DetachedCms&&) noexcept;

  ParsedCms parsed;
  std::size_t content_size = 0;  // octets of the inner content
  bool has_content() const { return content_ != nullptr; }
  BioPtr content() const;  // a fresh reader over the content octets (null without content)

  struct Content;

 private:
  friend DetachedCms parse_cms_detached(ReadAtFn, std::size_t, std::size_t);
  std::unique_ptr<Content> content_;
};

// `read_at` must stay valid (and the bytes unchanged) while the result is used.
DetachedCms parse_cms_detached(ReadAtFn read_at, std::size_t size,
                               std::size_t max_structure = 4 * 1024 * 1024);

// ---- decrypt -----------------------------------------------------------------------

struct RecipientKey {
  X509* cert = nullptr;     // not owned
  EVP_PKEY* key = nullptr;  // not owned
};

struct DecryptResult {
  Status status;
  int key_index = -1;          // which candidate decrypted it
  bool authenticated = false;  // AuthEnvelopedData: the GCM tag was checked
};

// True when `cert` names one of the RecipientInfos of enveloped / authEnveloped data
// (key transport by issuer+serial or SubjectKeyIdentifier, key agreement by each
// RecipientEncryptedKey). Lets a caller pick the one secret key it needs before opening any.
bool is_recipient(CMS_ContentInfo* cms, X509* cert);

// Decrypts enveloped or authEnveloped data with the first candidate that is a recipient.
// On failure `out` may already hold partial plaintext: the caller must discard it.
// `detached_content`: the encrypted content when `cms` does not carry it (DetachedCms).
DecryptResult decrypt(CMS_ContentInfo* cms, BIO* out, const std::vector<RecipientKey>& keys,
                      BIO* detached_content = nullptr);

// ---- verify ------------------------------------------------------------------------

enum class VerdictStatus { valid, bad_signature, untrusted, expired, revoked, malformed };

std::string verdict_name(VerdictStatus s);

struct Verdict {
  VerdictStatus status = VerdictStatus::malformed;  // becomes valid only at the end
  X509Ptr signer;                                   // the first signer's certificate
  std::vector<std::string> signer_emails;           // rfc822Name SAN + emailAddress DN
  std::string signer_fingerprint;                   // SHA-256 hex of the DER certificate
  std::string digest_algorithm;                     // "SHA256"
  std::string signature_algorithm;                  // "rsaEncryption", "id-ecPublicKey" ...
  std::string reason;                               // for people and logs
  // Who issued the signer, from the verified chain (revocation checks need it).
  X509Ptr issuer;
};

struct VerifyContext {
  X509_STORE* trust = nullptr;         // trust anchors (not owned); required
  std::vector<X509_CRL*> crls;         // checked for the signer when one of its issuer is given
  std::optional<std::time_t> at_time;  // verification time (default: now)
  std::vector<X509*> extra_certs;      // untrusted certificates that may help (signer, chain)
};

// Detached: `content` is the exact signed bytes, `signature` the parsed signed-data.
Verdict verify_detached(BIO* content, CMS_ContentInfo* signature, const VerifyContext& ctx);
// Opaque: the content inside signed-data is written to `out` (discard it unless valid).
// `detached_content`: that content when `signed_data` does not carry it (DetachedCms).
Verdict verify_opaque(CMS_ContentInfo* signed_data, BIO* out, const VerifyContext& ctx,
                      BIO* detached_content = nullptr);

// ---- certificate helpers -----------------------------------------------------------

std::vector<std::string> cert_emails(X509* cert);
std::string cert_fingerprint_sha256(X509* cert);  // lower-case hex, no separators
// Builds a store from trust anchors (certificates are shared, not copied).
X509StorePtr make_store(const std::vector<X509*>& anchors);

}  // namespace mailseal::crypto::smime
