// Exact-byte builders for S/MIME structures (multipart/signed, application/pkcs7-mime)
// and the multipart/signed locator: the signed bytes are never re-serialised.
#include <cstdint>
#include <cstring>
#include <random>

#include "mime/entity.h"

namespace mailseal::mime {
namespace {

// Walks the lines of a source; for each line gives its offset, the length without the
// line end, the line-end length and the first bytes (enough to compare a delimiter).
template <class Fn>
void for_each_line(const Source& src, std::size_t keep, Fn fn) {
  char chunk[65536];
  std::size_t off = 0, line_start = 0;
  std::string head;
  bool prev_cr = false;
  while (true) {
    long n = src.read_at(off, chunk, sizeof chunk);
    if (n <= 0) break;
    for (long i = 0; i < n; ++i) {
      char c = chunk[i];
      std::size_t pos = off + static_cast<std::size_t>(i);
      if (c == '\n') {
        std::size_t eol = prev_cr ? 2 : 1;
        std::size_t len = pos + 1 - line_start - eol;
        if (head.size() > len) head.resize(len);
        if (!fn(line_start, len, eol, head)) return;
        line_start = pos + 1;
        head.clear();
      } else if (head.size() < keep) {
        head.push_back(c);
      }
      prev_cr = c == '\r';
    }
    off += static_cast<std::size_t>(n);
  }
  if (line_start < off) fn(line_start, off - line_start, 0, head);
}

// "--B" or "--B--" followed only by linear white space (RFC 2046 5.1.1).
int delimiter_kind(const std::string& line, const std::string& boundary) {
  std::string d = "--" + boundary;
  if (line.compare(0, d.size(), d) != 0) return 0;
  std::string rest = line.substr(d.size());
  bool close = rest.rfind("--", 0) == 0;
  if (close) rest = rest.substr(2);
  if (rest.find_first_not_of(" \t") != std::string::npos) return 0;
  return close ? 2 : 1;
}

}  // namespace

SignedParts locate_signed_parts(const Source& body, const std::string& boundary) {
  SignedParts sp;
  if (boundary.empty() || boundary.size() > 70) {
    sp.error = "bad boundary";
    return sp;
  }
  int delimiters = 0;
  bool closed = false;
  std::size_t prev_eol = 0;
  for_each_line(body, boundary.size() + 80,
                [&](std::size_t off, std::size_t len, std::size_t eol, const std::string& head) {
                  int k = len <= boundary.size() + 80 ? delimiter_kind(head, boundary) : 0;
                  if (k == 0) {
                    prev_eol = eol;
                    return true;
                  }
                  // The line end before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
                  if (delimiters == 0 && k == 1) {
                    sp.content_offset = off + len + eol;
                  } else if (delimiters == 1 && k == 1 && off >= prev_eol + sp.content_offset) {
                    sp.content_length = off - prev_eol - sp.content_offset;
                    sp.signature_offset = off + len + eol;
                  } else if (delimiters == 2 && k == 2 && off >= prev_eol + sp.signature_offset) {
                    sp.signature_length = off - prev_eol - sp.signature_offset;
                    closed = true;
                    return false;
                  } else {
                    delimiters = 99;
                    return false;
                  }
                  ++delimiters;
                  prev_eol = eol;
                  return true;
                });
  if (!closed) {
    sp.error = "multipart/signed does not have exactly two parts and a close delimiter";
    return sp;
  }
  sp.ok = true;
  return sp;
}

std::string make_boundary() {
  // Seeded once per thread from getrandom(2): a std::random_device per call showed as
  // 1.5 % of the daemon's CPU. A boundary must not occur in the content, not be secret.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  unsigned char r[16];
  for (int i = 0; i < 16; i += 8) {
    std::uint64_t v = rng();
    for (int j = 0; j < 8; ++j) r[i + j] = static_cast<unsigned char>(v >> (8 * j));
  }
  static const char* hex = "0123456789abcdef";
  std::string b = "=_mailseal_";
  for (unsigned char c : r) {
    b.push_back(hex[c >> 4]);
    b.push_back(hex[c & 15]);
  }
  return b;
}

std::string header_block(const std::vector<Header>& headers) {
  std::string out;
  for (const Header& h : headers) out += h.name + ": " + h.value + "\r\n";
  return out;
}

std::string signed_multipart_head(const std::string& boundary) {
  return "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
         " micalg=sha-256; boundary=\"" +
         boundary +
         "\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--" +
         boundary + "\r\n";
}

std::string signed_multipart_middle(const std::string& boundary) {
  return "\r\n--" + boundary +
         "\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n";
}

std::string signed_multipart_tail(const std::string& boundary) {
  return "\r\n--" + boundary + "--\r\n";
}

std::string pkcs7_mime_headers(SmimeKind kind) {
  const char* type = kind == SmimeKind::auth_enveloped ? "authEnveloped-data"
                     : kind == SmimeKind::signed_data  ? "signed-data"
                                                       : "enveloped-data";
  return std::string("Content-Type: application/pkcs7-mime; smime-type=") + type +
         "; name=\"smime.p7m\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n";
}

}  // namespace mailseal::mime
