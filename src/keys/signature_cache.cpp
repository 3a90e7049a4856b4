// SignatureCache: see the header.
#include "keys/signature_cache.h"

#include <openssl/err.h>
#include <openssl/evp.h>

namespace mailseal::keys {
namespace {

// "" when a digest cannot be made (then nothing is cached for the object).
std::string issuer_key_digest(X509* issuer) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_pubkey_digest(issuer, EVP_sha256(), md, &n) != 1) return {};
  return std::string(reinterpret_cast<char*>(md), n);
}

template <typename Digest>
std::string key_of(const char tag, Digest digest, X509* issuer) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (digest(md, &n) != 1) return {};
  std::string k = issuer_key_digest(issuer);
  if (k.empty()) return {};
  std::string key(1, tag);
  key.append(reinterpret_cast<char*>(md), n);
  key += k;
  return key;
}

}  // namespace

bool SignatureCache::verify_cert(X509* cert, X509* issuer) {
  if (!cert || !issuer) return false;
  const std::string key = key_of(
      'c',
      [&](unsigned char* md, unsigned int* n) { return X509_digest(cert, EVP_sha256(), md, n); },
      issuer);
  if (!key.empty() && known(key)) return true;
  EVP_PKEY* pub = X509_get0_pubkey(issuer);
  const bool ok = pub && X509_verify(cert, pub) == 1;
  ERR_clear_error();
  if (ok && !key.empty()) remember(key);
  return ok;
}

bool SignatureCache::verify_crl(X509_CRL* crl, X509* issuer) {
  if (!crl || !issuer) return false;
  const std::string key = key_of(
      'r',
      [&](unsigned char* md, unsigned int* n) { return X509_CRL_digest(crl, EVP_sha256(), md, n); },
      issuer);
  if (!key.empty() && known(key)) return true;
  EVP_PKEY* pub = X509_get0_pubkey(issuer);
  const bool ok = pub && X509_CRL_verify(crl, pub) == 1;
  ERR_clear_error();
  if (ok && !key.empty()) remember(key);
  return ok;
}

std::size_t SignatureCache::size() {
  std::lock_guard lock(mu_);
  return ok_.size();
}

bool SignatureCache::known(const std::string& key) {
  std::lock_guard lock(mu_);
  return ok_.count(key) != 0;
}

void SignatureCache::remember(std::string key) {
  std::lock_guard lock(mu_);
  if (ok_.size() >= max_) ok_.clear();
  ok_.insert(std::move(key));
}

SignatureCache& SignatureCache::shared() {
  static SignatureCache cache;
  return cache;
}

}  // namespace mailseal::keys
