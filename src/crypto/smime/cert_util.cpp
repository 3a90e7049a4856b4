// Certificate helpers for S/MIME: e-mail addresses, SHA-256 fingerprint, trust store.
#include <openssl/x509v3.h>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {

std::vector<std::string> cert_emails(X509* cert) {
  std::vector<std::string> out;
  if (!cert) return out;
  // X509_get1_email: emailAddress entries of the subject DN and rfc822Name SANs.
  STACK_OF(OPENSSL_STRING)* emails = X509_get1_email(cert);
  for (int i = 0; emails && i < sk_OPENSSL_STRING_num(emails); ++i)
    out.emplace_back(sk_OPENSSL_STRING_value(emails, i));
  X509_email_free(emails);
  return out;
}

std::string cert_fingerprint_sha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

X509StorePtr make_store(const std::vector<X509*>& anchors) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return store;
  for (X509* a : anchors)
    if (a) X509_STORE_add_cert(store.get(), a);  // takes its own reference
  return store;
}

}  // namespace mailseal::crypto::smime
