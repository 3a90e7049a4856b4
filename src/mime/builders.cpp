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
// Lines are found with memchr: a 100 MB signed part is mostly 76-byte base64 lines.
template <class Fn>
void for_each_line(const Source& src, std::size_t keep, Fn fn) {
  char chunk[65536];
  std::size_t off = 0, line_start = 0;
  std::string head;
  bool prev_cr = false;  // the byte before chunk[0] was a CR
  while (true) {
    long got = src.read_at(off, chunk, sizeof chunk);
    if (got <= 0) break;
    const auto n = static_cast<std::size_t>(got);
    std::size_t i = 0;
    while (i < n) {
      const auto* lf = static_cast<const char*>(std::memchr(chunk + i, '\n', n - i));
      const std::size_t end = lf ? static_cast<std::size_t>(lf - chunk) : n;
      if (head.size() < keep) head.append(chunk + i, std::min(keep - head.size(), end - i));
      if (!lf) {
        prev_cr = chunk[n - 1] == '\r';
        break;
      }
      const bool cr = end > i ? chunk[end - 1] == '\r' : prev_cr;
      const std::size_t eol = cr ? 2 : 1;
      const std::size_t len = off + end + 1 - line_start - eol;
      if (head.size() > len) head.resize(len);
      if (!fn(line_start, len, eol, head)) return;
      line_start = off + end + 1;
      head.clear();
      prev_cr = false;
      i = end + 1;
    }
    off += n;
  }
  if (line_start < off) fn(line_start, off - line_start, 0, head);
}

// "--B" or "--B--" followed only by linear white space (RFC 2046 5.1.1).
int delimiter_kind(const std::string& line, const std::string& boundary) {
  if (line.size() < 2 + boundary.size() || line[0] != '-' || line[1] != '-' ||
      line.compare(2, boundary.size(), boundary) != 0)
    return 0;
  std::size_t rest = 2 + boundary.size();
  bool close = line.compare(rest, 2, "--") == 0;
  if (close) rest += 2;
  if (line.find_first_not_of(" \t", rest) != std::string::npos) return 0;
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
