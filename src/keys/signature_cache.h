// Remembers which signatures have verified: (certificate or CRL, issuer key) pairs. Every
// recipient lookup checks that the certificate was issued by a trust anchor and which
// CRLs that anchor signed (revocation_source, revocation_checker); without this each
// message paid one RSA/ECDSA verification per lookup and per CRL (about 10 % of the
// instructions of an S/MIME seal, bench/profile.py). A hit costs two SHA-256 digests.
//
// The key is the SHA-256 of the whole signed object (its DER, signature included) and of
// the issuer's public key, so a changed object or another key is a different entry. Only
// successes are kept; failures are verified again each time (they are rare and must not
// fill the cache). Bounded: when full it starts over. Thread-safe; one per process.
#pragma once

#include <openssl/x509.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_set>

namespace mailseal::keys {

class SignatureCache {
 public:
  explicit SignatureCache(std::size_t max_entries = 8192) : max_(max_entries) {}
  // X509_verify(cert, issuer's key) == 1, remembered.
  bool verify_cert(X509* cert, X509* issuer);
  // X509_CRL_verify(crl, issuer's key) == 1, remembered.
  bool verify_crl(X509_CRL* crl, X509* issuer);
  std::size_t size();

  static SignatureCache& shared();

 private:
  bool known(const std::string& key);
  void remember(std::string key);
  std::size_t max_;
  std::mutex mu_;
  std::unordered_set<std::string> ok_;
};

}  // namespace mailseal::keys
