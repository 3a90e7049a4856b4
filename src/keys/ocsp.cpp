// OCSP request building and response checking (see ocsp.h for the rules).
#include "keys/ocsp.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/openssl_ptr.h"
#include "keys/http_fetch.h"

namespace mailseal::keys {
namespace {

struct BasicDeleter {
  void operator()(OCSP_BASICRESP* p) const { OCSP_BASICRESP_free(p); }
  void operator()(OCSP_RESPONSE* p) const { OCSP_RESPONSE_free(p); }
};

std::optional<std::time_t> to_time(const ASN1_GENERALIZEDTIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

OcspAnswer fail(std::string why) {
  ERR_clear_error();
  OcspAnswer a;
  a.why = std::move(why);
  return a;
}

constexpr std::size_t kMaxResponse = 256 * 1024;

}  // namespace

std::vector<std::string> ocsp_urls(X509* cert) {
  std::vector<std::string> out;
  STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(cert);
  for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls); ++i)
    out.emplace_back(sk_OPENSSL_STRING_value(urls, i));
  X509_email_free(urls);  // the same stack type as X509_get1_email
  return out;
}

std::optional<OcspRequest> make_ocsp_request(X509* cert, X509* issuer, bool nonce) {
  OcspRequest r;
  r.request.reset(OCSP_REQUEST_new());
  r.id.reset(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
  OCSP_CERTID* for_request = r.id ? OCSP_CERTID_dup(r.id.get()) : nullptr;
  if (!r.request || !for_request) {
    OCSP_CERTID_free(for_request);
    ERR_clear_error();
    return std::nullopt;
  }
  if (!OCSP_request_add0_id(r.request.get(), for_request)) {
    OCSP_CERTID_free(for_request);
    ERR_clear_error();
    return std::nullopt;
  }
  if (nonce && OCSP_request_add1_nonce(r.request.get(), nullptr, -1) != 1) return std::nullopt;
  unsigned char* der = nullptr;
  int n = i2d_OCSP_REQUEST(r.request.get(), &der);
  if (n <= 0) return std::nullopt;
  r.der.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return r;
}

OcspAnswer check_ocsp_response(const std::string& der, const OcspRequest& request, X509* issuer,
                               const OcspCheckOptions& options) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<OCSP_RESPONSE, BasicDeleter> resp(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!resp) return fail("OCSP response is malformed");
  int status = OCSP_response_status(resp.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return fail(std::string("OCSP responder answered ") + OCSP_response_status_str(status));
  std::unique_ptr<OCSP_BASICRESP, BasicDeleter> basic(OCSP_response_get1_basic(resp.get()));
  if (!basic) return fail("OCSP response is not a basic response");
  // 1: our nonce echoed; 2: none in either; -1: we sent one, the responder did not echo it
  // (allowed by RFC 6960 and common for pre-produced responses; freshness then decides).
  int nonce = OCSP_check_nonce(request.request.get(), basic.get());
  if (nonce == 0) return fail("OCSP response nonce does not match the request");
  // Signed by the issuer itself or by a responder certificate that the issuer issued with
  // the OCSP signing EKU (OCSP_basic_verify checks that delegation). The issuer is the only
  // trust anchor: the answer is about its certificate, nobody else may give it.
  crypto::X509StorePtr store(X509_STORE_new());
  crypto::X509StackPtr certs(sk_X509_new_null());
  if (!store || !certs || X509_STORE_add_cert(store.get(), issuer) != 1)
    return fail("cannot set up OCSP signature check");
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), options.now);
  sk_X509_push(certs.get(), crypto::share(issuer).release());
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), 0) != 1)
    return fail("OCSP response signature is not by the issuer or its delegated responder");
  int cert_status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (OCSP_resp_find_status(basic.get(), request.id.get(), &cert_status, &reason, &revoked_at,
                            &this_update, &next_update) != 1)
    return fail("OCSP response has no answer for this certificate");
  auto this_t = to_time(this_update);
  auto next_t = next_update ? to_time(next_update) : std::nullopt;
  const std::time_t skew = options.skew.count();
  if (!this_t || (next_update && !next_t)) return fail("OCSP response times are malformed");
  if (*this_t > options.now + skew) return fail("OCSP response is from the future");
  if (next_t && *next_t < options.now - skew) return fail("OCSP response is stale");
  if (next_t && *next_t < *this_t) return fail("OCSP response nextUpdate is before thisUpdate");
  if (!next_t && nonce != 1 && *this_t < options.now - options.max_age.count())
    return fail("OCSP response without nextUpdate or nonce is too old");
  OcspAnswer a;
  a.ok = true;
  a.next_update = next_t;
  a.state = cert_status == V_OCSP_CERTSTATUS_GOOD      ? CertState::good
            : cert_status == V_OCSP_CERTSTATUS_REVOKED ? CertState::revoked
                                                       : CertState::unknown;
  a.why = OCSP_cert_status_str(cert_status);
  return a;
}

OcspAnswer query_ocsp(const std::string& url, X509* cert, X509* issuer,
                      std::chrono::seconds timeout, std::chrono::seconds skew) {
  auto request = make_ocsp_request(cert, issuer);
  if (!request) return fail("cannot build an OCSP request");
  std::string why;
  auto body = http_post(url, request->der, "application/ocsp-request", "application/ocsp-response",
                        timeout, kMaxResponse, why);
  if (!body) {
    OcspAnswer a = fail("OCSP responder " + why);
    a.unreachable = true;
    return a;
  }
  OcspCheckOptions options;
  options.now = std::time(nullptr);
  options.skew = skew;
  auto answer = check_ocsp_response(*body, *request, issuer, options);
  if (!answer.ok) answer.why = url + ": " + answer.why;
  return answer;
}

}  // namespace mailseal::keys
