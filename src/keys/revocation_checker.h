// Revocation status of S/MIME certificates (issue 6): CRLs (the store's, plus ones fetched
// from the certificate's http:// distribution points and kept current) and OCSP (the
// responder named in the certificate's AIA, or a configured one). Used by the seal path for
// recipient certificates and by the open path for signers; both give the certificate and
// its issuer (without the issuer nothing can be checked: OCSP names a certificate by its
// issuer's key, and a CRL is only believed when the issuer's key verifies it).
//
// Policy for an unreachable or unusable OCSP responder: soft-fail logs a warning and the
// certificate counts as not revoked; hard-fail reports `unavailable` (callers answer 451,
// the sender retries). A failed responder is given a rest (`responder_backoff`) during which
// the failure is answered at once and soft-fail warns only once. A CRL that cannot be fetched is
// logged and the old one kept: CRLs are a second source and their failure never holds mail.
//
// Answers (good and revoked) are cached until the response's nextUpdate, at most
// `max_cache`, and at most `cache_entries` of them. Thread-safe: the network is used
// without holding the lock (two threads may ask the same question at once; harmless).
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/openssl_ptr.h"

namespace mailseal::keys {

enum class OcspMode { off, soft_fail, hard_fail };

struct RevocationSettings {
  OcspMode ocsp = OcspMode::soft_fail;
  std::chrono::seconds ocsp_timeout{5};
  std::string ocsp_url;  // non-empty: every OCSP request goes here instead of the AIA URL
  bool fetch_crls = true;
  std::chrono::seconds crl_timeout{10};
  std::chrono::seconds skew{300};         // clock difference tolerated in responses
  std::chrono::seconds max_cache{3600};   // an answer is reused at most this long
  std::chrono::seconds retry_after{300};  // a failed CRL download is retried after this
  // A responder that could not be reached is not asked again for this long: every lookup
  // (RCPT, DATA, each filter) would otherwise wait the full timeout while it is down.
  std::chrono::seconds responder_backoff{30};
  std::size_t cache_entries = 10000;
};

enum class Revocation {
  good,         // a fresh OCSP answer said good, or a CRL covers it and does not list it
  revoked,      // listed in a verified CRL, or a verified OCSP answer said revoked
  unknown,      // nothing to ask (no issuer, no responder, OCSP off) or soft-failed
  unavailable,  // hard-fail and the responder gave no usable answer
};

struct RevocationResult {
  Revocation state = Revocation::unknown;
  std::string detail;  // for logs; never secret
};

class RevocationChecker {
 public:
  using CrlSink = std::function<void(X509_CRL*)>;  // persists a fetched, verified CRL
  using Log = std::function<void(const std::string&)>;
  using Clock = std::function<std::time_t()>;

  RevocationChecker(RevocationSettings settings, CrlSink store_crl, Log warn, Clock now = {});

  // `crls`: the CRLs known (the key store's); `issuer` may be null (then: unknown).
  RevocationResult check(X509* cert, X509* issuer, const std::vector<X509_CRL*>& crls);

  const RevocationSettings& settings() const { return settings_; }
  // Logs through the configured sink (callers report what they did with a result).
  void warn(const std::string& message) const {
    if (warn_) warn_(message);
  }

 private:
  struct CachedAnswer {
    Revocation state;
    std::time_t expires;
  };
  RevocationResult check_crls(X509* cert, X509* issuer, const std::vector<X509_CRL*>& crls);
  RevocationResult check_ocsp(X509* cert, X509* issuer);
  crypto::X509CrlPtr fetch_crl(const std::string& url, X509* issuer);

  RevocationSettings settings_;
  CrlSink store_crl_;
  Log warn_;
  Clock now_;
  std::mutex mu_;
  std::map<std::string, CachedAnswer> ocsp_cache_;     // by certificate fingerprint
  std::map<std::string, crypto::X509CrlPtr> fetched_;  // by distribution point URL
  std::map<std::string, std::time_t> crl_failed_;      // URL -> when to try again
  std::map<std::string, std::pair<std::time_t, std::string>> ocsp_down_;  // URL -> until, why
};

// The candidate (trust anchor or intermediate) that issued `cert` (name, key identifiers
// and signature checked), or null.
X509* find_issuer(X509* cert, const std::vector<X509*>& candidates);

// http(s) URIs of the certificate's CRL distribution points (full names), in order.
std::vector<std::string> crl_urls(X509* cert);

}  // namespace mailseal::keys
