// RevocationChecker: CRLs first (local, no waiting), then OCSP; see the header for policy.
#include "keys/revocation_checker.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "keys/http_fetch.h"
#include "keys/ocsp.h"
#include "keys/signature_cache.h"

namespace mailseal::keys {
namespace {

constexpr std::size_t kMaxCrl = 16 * 1024 * 1024;

std::string fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

std::string subject(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

std::optional<std::time_t> to_time(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

// Issued by `issuer` and signed with its key: only such a CRL is believed.
bool crl_from(X509_CRL* crl, X509* issuer) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) return false;
  return SignatureCache::shared().verify_crl(crl, issuer);
}

// DER, as RFC 5280 4.2.1.13 requires of an http:// distribution point.
crypto::X509CrlPtr parse_crl(const std::string& bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  crypto::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
  ERR_clear_error();
  return crl;
}

}  // namespace

X509* find_issuer(X509* cert, const std::vector<X509*>& candidates) {
  for (X509* c : candidates) {
    if (!c || X509_check_issued(c, cert) != X509_V_OK) continue;
    if (SignatureCache::shared().verify_cert(cert, c)) return c;
  }
  ERR_clear_error();
  return nullptr;
}

std::vector<std::string> crl_urls(X509* cert) {
  std::vector<std::string> out;
  auto* dps = static_cast<STACK_OF(DIST_POINT)*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
  for (int i = 0; dps && i < sk_DIST_POINT_num(dps); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (!dp->distpoint || dp->distpoint->type != 0) continue;  // full names only
    GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<std::size_t>(ASN1_STRING_length(uri)));
    }
  }
  sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
  return out;
}

RevocationChecker::RevocationChecker(RevocationSettings settings, CrlSink store_crl, Log warn,
                                     Clock now)
    : settings_(std::move(settings)),
      store_crl_(std::move(store_crl)),
      warn_(std::move(warn)),
      now_(now ? std::move(now) : Clock([] { return std::time(nullptr); })) {}

RevocationResult RevocationChecker::check(X509* cert, X509* issuer,
                                          const std::vector<X509_CRL*>& crls) {
  if (!cert || !issuer) return {Revocation::unknown, "issuer not known"};
  RevocationResult by_crl = check_crls(cert, issuer, crls);
  if (by_crl.state == Revocation::revoked) return by_crl;
  RevocationResult by_ocsp = check_ocsp(cert, issuer);
  // A current CRL that does not list the certificate is an answer too.
  if (by_ocsp.state == Revocation::unknown && by_crl.state == Revocation::good) return by_crl;
  return by_ocsp;
}

crypto::X509CrlPtr RevocationChecker::fetch_crl(const std::string& url, X509* issuer) {
  std::string why;
  auto body = http_get(url, nullptr, settings_.crl_timeout, kMaxCrl, why);
  crypto::X509CrlPtr crl;
  if (body) {
    crl = parse_crl(*body);
    if (!crl)
      why = url + ": not a CRL";
    else if (!crl_from(crl.get(), issuer))
      why = url + ": CRL not signed by the certificate's issuer";
  }
  if (!crl || !why.empty()) {
    if (warn_) warn_("CRL download failed (the previous CRL stays in use): " + why);
    std::lock_guard lock(mu_);
    if (crl_failed_.size() >= 1024) crl_failed_.clear();  // URLs come from certificates
    crl_failed_[url] = now_() + settings_.retry_after.count();
    return nullptr;
  }
  if (store_crl_) store_crl_(crl.get());
  std::lock_guard lock(mu_);
  crl_failed_.erase(url);
  fetched_[url] = crypto::share(crl.get());
  return crl;
}

RevocationResult RevocationChecker::check_crls(X509* cert, X509* issuer,
                                               const std::vector<X509_CRL*>& crls) {
  const std::time_t now = now_();
  std::vector<crypto::X509CrlPtr> mine;  // verified CRLs of this issuer
  for (X509_CRL* c : crls)
    if (c && crl_from(c, issuer)) mine.push_back(crypto::share(c));
  std::vector<std::string> to_fetch;
  {
    std::lock_guard lock(mu_);
    for (const auto& url : crl_urls(cert)) {
      auto f = fetched_.find(url);
      if (f != fetched_.end() && crl_from(f->second.get(), issuer))
        mine.push_back(crypto::share(f->second.get()));
    }
  }
  bool current = false;
  for (const auto& c : mine) {
    auto next = to_time(X509_CRL_get0_nextUpdate(c.get()));
    current |= !next || *next > now;
  }
  if (!current && settings_.fetch_crls) {
    std::lock_guard lock(mu_);
    for (const auto& url : crl_urls(cert)) {
      if (url.compare(0, 7, "http://") != 0) continue;
      auto failed = crl_failed_.find(url);
      if (failed == crl_failed_.end() || failed->second <= now) to_fetch.push_back(url);
    }
  }
  for (const auto& url : to_fetch) {
    auto crl = fetch_crl(url, issuer);
    if (!crl) continue;
    mine.push_back(std::move(crl));
    current = true;
    break;  // one current CRL of this issuer is enough
  }
  for (const auto& c : mine) {
    X509_REVOKED* entry = nullptr;
    if (X509_CRL_get0_by_cert(c.get(), &entry, cert) == 1)
      return {Revocation::revoked, "listed in the CRL of " + subject(issuer)};
  }
  if (current) return {Revocation::good, "not listed in a current CRL"};
  return {Revocation::unknown, "no current CRL"};
}

RevocationResult RevocationChecker::check_ocsp(X509* cert, X509* issuer) {
  if (settings_.ocsp == OcspMode::off) return {Revocation::unknown, "OCSP off"};
  std::string url = settings_.ocsp_url;
  if (url.empty()) {
    auto urls = ocsp_urls(cert);
    if (urls.empty()) return {Revocation::unknown, "no OCSP responder named"};
    url = urls.front();
  }
  const std::string key = fingerprint(cert);
  const std::time_t now = now_();
  {
    std::lock_guard lock(mu_);
    auto hit = ocsp_cache_.find(key);
    if (hit != ocsp_cache_.end()) {
      if (hit->second.expires > now) return {hit->second.state, "OCSP (cached)"};
      ocsp_cache_.erase(hit);
    }
  }
  std::optional<std::string> resting;  // the responder failed a moment ago: why
  {
    std::lock_guard lock(mu_);
    auto down = ocsp_down_.find(url);
    if (down != ocsp_down_.end() && down->second.first > now) resting = down->second.second;
  }
  OcspAnswer a;
  if (resting) {
    a.why = *resting + " (not asked again yet)";
    a.unreachable = true;
  } else {
    a = query_ocsp(url, cert, issuer, settings_.ocsp_timeout, settings_.skew);
  }
  if (!a.ok) {
    std::string what = "OCSP check of " + subject(cert) + " failed: " + a.why;
    if (!resting && a.unreachable) {
      std::lock_guard lock(mu_);
      if (ocsp_down_.size() >= 1024) ocsp_down_.clear();  // URLs come from certificates
      ocsp_down_[url] = {now + settings_.responder_backoff.count(), a.why};
    }
    if (settings_.ocsp == OcspMode::hard_fail) return {Revocation::unavailable, what};
    if (warn_ && !resting) warn_(what + " (soft-fail: certificate used)");
    return {Revocation::unknown, what};
  }
  {
    std::lock_guard lock(mu_);
    ocsp_down_.erase(url);
  }
  Revocation state = a.state == CertState::good      ? Revocation::good
                     : a.state == CertState::revoked ? Revocation::revoked
                                                     : Revocation::unknown;
  if (state != Revocation::unknown) {
    // Until nextUpdate (a response without one is valid "now": a short while), capped.
    std::time_t until = now + std::min<std::time_t>(settings_.max_cache.count(), 300);
    if (a.next_update)
      until = std::min<std::time_t>(*a.next_update, now + settings_.max_cache.count());
    std::lock_guard lock(mu_);
    if (ocsp_cache_.size() >= settings_.cache_entries) {
      for (auto it = ocsp_cache_.begin(); it != ocsp_cache_.end();)
        it = it->second.expires <= now ? ocsp_cache_.erase(it) : std::next(it);
      if (ocsp_cache_.size() >= settings_.cache_entries) ocsp_cache_.clear();
    }
    ocsp_cache_[key] = CachedAnswer{state, until};
  }
  return {state, "OCSP " + url + ": " + a.why};
}

}  // namespace mailseal::keys
