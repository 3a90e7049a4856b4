// OCSP (RFC 6960) for one certificate: the request (SHA-1 CertID, as responders expect,
// plus a nonce), and the checks a response must pass before its answer is believed:
// successful status, signature by the issuer or a responder it delegated to (OCSP signing
// EKU), the nonce echoed if the responder sent one, and freshness (thisUpdate not in the
// future, nextUpdate not in the past, both within `skew`; a response without nextUpdate
// and without our nonce must be younger than `max_age`). check_ocsp_response is pure (no
// network, the time is a parameter) so that these rules are unit-tested.
#pragma once

#include <openssl/ocsp.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mailseal::keys {

enum class CertState { good, revoked, unknown };

struct OcspAnswer {
  bool ok = false;  // false: no usable answer (why says what failed)
  CertState state = CertState::unknown;
  std::optional<std::time_t> next_update;  // when the answer stops being fresh
  bool unreachable = false;                // no HTTP answer at all (connect, timeout, status)
  std::string why;
};

struct OcspRequestDeleter {
  void operator()(OCSP_REQUEST* p) const { OCSP_REQUEST_free(p); }
  void operator()(OCSP_CERTID* p) const { OCSP_CERTID_free(p); }
};
using OcspRequestPtr = std::unique_ptr<OCSP_REQUEST, OcspRequestDeleter>;
using OcspCertIdPtr = std::unique_ptr<OCSP_CERTID, OcspRequestDeleter>;

struct OcspRequest {
  OcspRequestPtr request;
  OcspCertIdPtr id;  // our copy, to find the answer for this certificate
  std::string der;   // what is sent
};

struct OcspCheckOptions {
  std::time_t now = 0;
  std::chrono::seconds skew{300};
  std::chrono::seconds max_age{3600};
};

// The responder URLs named in the certificate's AIA extension (id-ad-ocsp), in order.
std::vector<std::string> ocsp_urls(X509* cert);

// nullopt when the CertID cannot be built (no issuer key, ...).
std::optional<OcspRequest> make_ocsp_request(X509* cert, X509* issuer, bool nonce = true);

OcspAnswer check_ocsp_response(const std::string& der, const OcspRequest& request, X509* issuer,
                               const OcspCheckOptions& options);

// Posts the request to `url` (blocking, at most `timeout`) and checks the answer at the
// current time.
OcspAnswer query_ocsp(const std::string& url, X509* cert, X509* issuer,
                      std::chrono::seconds timeout, std::chrono::seconds skew);

}  // namespace mailseal::keys
