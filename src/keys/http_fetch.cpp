// http_post / http_get over OSSL_HTTP_transfer (one connection per request, no keep-alive:
// responders are asked rarely thanks to the caches above this).
#include "keys/http_fetch.h"

#include <openssl/err.h>
#include <openssl/http.h>

#include "crypto/openssl_ptr.h"

namespace mailseal::keys {
namespace {

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? std::string(buf) : std::string("unknown error");
}

std::optional<std::string> transfer(const std::string& url, const char* content_type, BIO* request,
                                    const char* expected_type, std::chrono::seconds timeout,
                                    std::size_t max_bytes, std::string& why) {
  auto target = parse_http_url(url, why);
  if (!target) return std::nullopt;
  ERR_clear_error();
  // proxy "" = never a proxy (NULL would read http_proxy from the environment).
  // expect_asn1 = 1: the whole body is read into memory (and must be one DER structure).
  // With 0 OpenSSL may hand back the connection's stream, and without a kept request
  // context (prctx null) that came back incomplete here now and then (truncated CRLs).
  crypto::BioPtr resp(OSSL_HTTP_transfer(
      nullptr, target->host.c_str(), target->port.c_str(), target->path.c_str(), 0, "", nullptr,
      nullptr, nullptr, nullptr, nullptr, 0, nullptr, content_type, request, expected_type, 1,
      max_bytes, static_cast<int>(timeout.count()), 0));
  if (!resp) {
    why = url + ": " + openssl_reason();
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(resp.get(), buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      why = url + ": response too large";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::optional<HttpTarget> parse_http_url(const std::string& url, std::string& why) {
  char *host = nullptr, *port = nullptr, *path = nullptr, *query = nullptr;
  int ssl = 0;
  if (OSSL_HTTP_parse_url(url.c_str(), &ssl, nullptr, &host, &port, nullptr, &path, &query,
                          nullptr) != 1) {
    ERR_clear_error();
    why = url + ": not a URL";
    return std::nullopt;
  }
  HttpTarget t{host ? host : "", port ? port : "80", path && *path ? path : "/"};
  if (query && *query) t.path += std::string("?") + query;
  OPENSSL_free(host);
  OPENSSL_free(port);
  OPENSSL_free(path);
  OPENSSL_free(query);
  if (ssl || url.compare(0, 7, "http://") != 0 || t.host.empty()) {
    why = url + ": only http:// URLs are used for revocation data";
    return std::nullopt;
  }
  return t;
}

std::optional<std::string> http_post(const std::string& url, std::string_view body,
                                     const char* content_type, const char* expected_type,
                                     std::chrono::seconds timeout, std::size_t max_bytes,
                                     std::string& why) {
  crypto::BioPtr req(BIO_new_mem_buf(body.data(), static_cast<int>(body.size())));
  if (!req) {
    why = "out of memory";
    return std::nullopt;
  }
  return transfer(url, content_type, req.get(), expected_type, timeout, max_bytes, why);
}

std::optional<std::string> http_get(const std::string& url, const char* expected_type,
                                    std::chrono::seconds timeout, std::size_t max_bytes,
                                    std::string& why) {
  return transfer(url, nullptr, nullptr, expected_type, timeout, max_bytes, why);
}

}  // namespace mailseal::keys
