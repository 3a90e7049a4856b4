// A small HTTPS GET for Web Key Directory lookups: one request, one connection, to
// addresses the caller resolved (through mailseal's own DNSSEC resolver, not the system's),
// with SNI and certificate verification against the host name (CA from a configured file,
// or the system's), an overall deadline that covers connect, handshake and transfer, a
// size limit, and no proxy. HTTP/1.0, so the body is delimited by Content-Length or the
// end of the connection (never chunked). Redirects are not followed here: the caller sees
// the status and Location and decides.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keys/result.h"

namespace mailseal::keys {

// One TLS client context per configuration (CA file loaded once); thread-safe to share.
class HttpsClient {
 public:
  // Fails when ca_file cannot be read (empty: the system's default CA store).
  static Result<std::shared_ptr<HttpsClient>> create(const std::string& ca_file);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  struct Request {
    std::string host;                    // for SNI, the Host header and verification
    std::uint16_t port = 443;            //
    std::string path;                    // with the query
    std::vector<std::string> addresses;  // IPv4/IPv6 literals, tried in order
    std::size_t max_bytes = 1 << 20;     // response (headers + body) limit
    std::chrono::steady_clock::time_point deadline;
  };

  struct Response {
    // What happened; `reached` is false when no address accepted a TCP connection
    // (refused, unreachable): the WKD advanced method then falls back to the direct one.
    bool ok = false;
    bool reached = false;
    bool timed_out = false;
    std::string error;  // one line when !ok
    int status = 0;
    std::string location;  // Location header (3xx)
    std::string body;
  };

  Response get(const Request& r) const;

 private:
  explicit HttpsClient(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace mailseal::keys
