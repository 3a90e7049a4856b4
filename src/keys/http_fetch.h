// Plain blocking HTTP/1.0 for revocation data (OCSP requests, CRL downloads), over
// OpenSSL's OSSL_HTTP_* client. Revocation data is signed, so plain http:// is what
// responders and distribution points serve (RFC 5280 4.2.1.13, RFC 6960 A.1); https://
// is refused rather than half-supported. No proxy is used, whatever the environment says:
// the gateway's outbound HTTP must be predictable. Every call has an overall timeout.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mailseal::keys {

struct HttpTarget {
  std::string host;
  std::string port;
  std::string path;  // with the query, "/" when empty
};

// http://host[:port]/path -> parts; nullopt (and `why`) for anything else.
std::optional<HttpTarget> parse_http_url(const std::string& url, std::string& why);

// POSTs `body` (content type `content_type`) and returns the response body when the
// status is 200 and its content type is `expected_type`; nullopt and `why` otherwise.
// Responses larger than `max_bytes` are refused.
std::optional<std::string> http_post(const std::string& url, std::string_view body,
                                     const char* content_type, const char* expected_type,
                                     std::chrono::seconds timeout, std::size_t max_bytes,
                                     std::string& why);
// GET of one DER object (a CRL: RFC 5280 4.2.1.13 says DER); `expected_type` may be null
// (CRL servers rarely send application/pkix-crl).
std::optional<std::string> http_get(const std::string& url, const char* expected_type,
                                    std::chrono::seconds timeout, std::size_t max_bytes,
                                    std::string& why);

}  // namespace mailseal::keys
