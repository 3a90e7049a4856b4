// HttpsClient::get: non-blocking socket + poll against one deadline, OpenSSL on top.
#include "keys/https_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>

#include "keys/sigpipe_guard.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

using SteadyClock = std::chrono::steady_clock;

int remaining_ms(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 3600 * 1000));
}

std::string ssl_reason() {
  unsigned long e = ERR_peek_last_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? std::string(buf) : std::string("connection closed");
}

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Waits until the socket is readable (or writable); false when the deadline passed.
bool wait_for(int fd, bool write, SteadyClock::time_point deadline) {
  pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
  while (true) {
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A TCP connection to one address; on failure `why` and `timed_out` say what happened.
Socket connect_to(const std::string& ip, std::uint16_t port, SteadyClock::time_point deadline,
                  std::string& why, bool& timed_out) {
  sockaddr_storage sa{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&sa);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&sa);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    why = ip + ": not an address";
    return {};
  }
  Socket s(::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.get() < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  const std::string where =
      (sa.ss_family == AF_INET6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    if (errno != EINPROGRESS) {
      why = where + ": " + std::strerror(errno);
      return {};
    }
    if (!wait_for(s.get(), true, deadline)) {
      why = where + ": connect timed out";
      timed_out = true;
      return {};
    }
    int err = 0;
    socklen_t elen = sizeof err;
    if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
      why = where + ": " + std::strerror(err ? err : errno);
      return {};
    }
  }
  return s;
}

// Runs an SSL operation until it completes, waiting for the socket as OpenSSL asks.
// Returns the operation's result (> 0 done; <= 0 failed, see `timed_out`).
template <class Op>
int drive(SSL* ssl, int fd, SteadyClock::time_point deadline, bool& timed_out, Op op) {
  while (true) {
    int r = op();
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return r;
    if (!wait_for(fd, e == SSL_ERROR_WANT_WRITE, deadline)) {
      timed_out = true;
      return -1;
    }
  }
}

std::string header_value(std::string_view head, std::string_view name) {
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && util::to_lower(line.substr(0, colon)) == name) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return std::string(v);
    }
    pos = end + 2;
  }
  return {};
}

// Status line, Location and body out of the raw response; false (with `why`) if malformed
// or cut short.
bool parse_response(const std::string& raw, HttpsClient::Response& out) {
  auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) {
    out.error = "not an HTTP response";
    return false;
  }
  auto sp = raw.find(' ');
  if (sp == std::string::npos || sp > end || sp + 4 > raw.size()) {
    out.error = "malformed status line";
    return false;
  }
  int status = 0;
  for (std::size_t i = sp + 1; i < sp + 4; ++i) {
    if (raw[i] < '0' || raw[i] > '9') {
      out.error = "malformed status line";
      return false;
    }
    status = status * 10 + (raw[i] - '0');
  }
  out.status = status;
  std::string_view head(raw.data(), end);
  out.location = header_value(head, "location");
  out.body = raw.substr(end + 4);
  std::string cl = header_value(head, "content-length");
  if (!cl.empty()) {
    if (cl.size() > 12 || cl.find_first_not_of("0123456789") != std::string::npos) {
      out.error = "malformed Content-Length";
      return false;
    }
    std::size_t n = std::stoull(cl);
    if (out.body.size() < n) {
      out.error =
          "response cut short (" + std::to_string(out.body.size()) + " of " + cl + " bytes)";
      return false;
    }
    out.body.resize(n);
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<HttpsClient>> HttpsClient::create(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail("TLS context: " + ssl_reason());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Servers often close without close_notify; the body length is checked instead.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                               : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    std::string why = ssl_reason();
    SSL_CTX_free(ctx);
    return fail((ca_file.empty() ? std::string("system CA store") : "ca_file " + ca_file) + ": " +
                why);
  }
  return std::shared_ptr<HttpsClient>(new HttpsClient(ctx));
}

HttpsClient::~HttpsClient() {
  SSL_CTX_free(ctx_);
}

HttpsClient::Response HttpsClient::get(const Request& r) const {
  Response out;
  Socket sock;
  std::string failures;
  for (const auto& ip : r.addresses) {
    std::string why;
    sock = connect_to(ip, r.port, r.deadline, why, out.timed_out);
    if (sock.get() >= 0) break;
    failures += (failures.empty() ? "" : "; ") + why;
    if (out.timed_out) break;  // the whole budget is spent
  }
  if (sock.get() < 0) {
    out.error = failures.empty() ? "no address to connect to" : failures;
    return out;
  }
  out.reached = true;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx_), SSL_free);
  if (!ssl || SSL_set_fd(ssl.get(), sock.get()) != 1 ||
      SSL_set_tlsext_host_name(ssl.get(), r.host.c_str()) != 1 ||
      SSL_set1_host(ssl.get(), r.host.c_str()) != 1) {
    out.error = "TLS setup: " + ssl_reason();
    return out;
  }
  SigpipeGuard no_sigpipe;
  const int fd = sock.get();
  ERR_clear_error();
  if (drive(ssl.get(), fd, r.deadline, out.timed_out, [&] { return SSL_connect(ssl.get()); }) <=
      0) {
    long v = SSL_get_verify_result(ssl.get());
    if (out.timed_out)
      out.error = "TLS handshake timed out";
    else if (v != X509_V_OK)
      out.error = std::string("TLS: certificate not trusted for ") + r.host + ": " +
                  X509_verify_cert_error_string(v);
    else
      out.error = "TLS handshake: " + ssl_reason();
    ERR_clear_error();
    return out;
  }
  const std::string request = "GET " + r.path + " HTTP/1.0\r\nHost: " + r.host +
                              "\r\nUser-Agent: mailseal\r\nAccept: application/octet-stream, "
                              "*/*\r\nConnection: close\r\n\r\n";
  if (drive(ssl.get(), fd, r.deadline, out.timed_out, [&] {
        return SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
      }) <= 0) {
    out.error = out.timed_out ? "sending the request timed out" : "sending: " + ssl_reason();
    return out;
  }
  std::string raw;
  char buf[16384];
  while (true) {
    int n = drive(ssl.get(), fd, r.deadline, out.timed_out,
                  [&] { return SSL_read(ssl.get(), buf, sizeof buf); });
    if (n <= 0) {
      if (out.timed_out) {
        out.error = "no complete response within the timeout";
        return out;
      }
      int e = SSL_get_error(ssl.get(), n);
      if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL) {
        out.error = "reading: " + ssl_reason();
        return out;
      }
      ERR_clear_error();
      break;  // the end of the connection ends an HTTP/1.0 response
    }
    raw.append(buf, static_cast<std::size_t>(n));
    if (raw.size() > r.max_bytes) {
      out.error = "response larger than " + std::to_string(r.max_bytes) + " bytes";
      return out;
    }
  }
  if (!parse_response(raw, out)) return out;
  out.ok = true;
  return out;
}

}  // namespace mailseal::keys
