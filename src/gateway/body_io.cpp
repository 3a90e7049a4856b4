// MessageBody adapters for mime::Source / AppendFn and OpenSSL BIOs.
#include "gateway/body_io.h"

#include <cstring>

namespace mailseal::gateway {

mime::Source source_of(const core::MessageBody& body) {
  return mime::Source{
      [&body](std::size_t off, char* buf, std::size_t n) { return body.read_at(off, buf, n); },
      body.size()};
}

mime::AppendFn append_to(core::MessageBody& body) {
  return [&body](std::string_view bytes) {
    body.append(bytes);
    return body.ok();
  };
}

crypto::BioPtr read_bio(const mime::Source& source) {
  return crypto::make_read_bio(source.read_at);
}

bool copy_into(const mime::Source& source, core::MessageBody& out) {
  char buf[65536];
  std::size_t off = 0;
  long n;
  while ((n = source.read_at(off, buf, sizeof buf)) > 0) {
    out.append(std::string_view(buf, static_cast<std::size_t>(n)));
    off += static_cast<std::size_t>(n);
  }
  return n == 0 && out.ok();
}

namespace {

// Appends `in` to `out` with every bare CR and bare LF turned into CRLF. `pending_cr`: the
// previous piece ended in a CR, which the first byte here decides. Lines are found with
// memchr and runs of good lines appended whole: decrypted content is nearly always CRLF
// already, and 100 MB of it went through here a byte at a time.
void append_crlf(std::string_view in, core::MessageBody& out, bool& pending_cr) {
  const char* p = in.data();
  const std::size_t n = in.size();
  std::size_t i = 0, run = 0;  // run: first byte not yet appended
  if (pending_cr && n > 0) {
    out.append("\r\n");
    pending_cr = false;
    if (p[0] == '\n') i = run = 1;
  }
  while (i < n) {
    const auto* lf = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
    const std::size_t end = lf ? static_cast<std::size_t>(lf - p) : n;
    const bool crlf = lf && end > i && p[end - 1] == '\r';
    // Any CR before the line's end (other than the one of its CRLF) is bare.
    const std::size_t scan = crlf ? end - 1 : end;
    if (const auto* cr = static_cast<const char*>(std::memchr(p + i, '\r', scan - i))) {
      const auto at = static_cast<std::size_t>(cr - p);
      out.append(std::string_view(p + run, at - run));
      i = run = at + 1;
      if (i == n) {  // the piece's last byte: the next one decides
        pending_cr = true;
        return;
      }
      out.append("\r\n");
      continue;
    }
    if (!lf) break;
    if (!crlf) {  // a bare LF
      out.append(std::string_view(p + run, end - run));
      out.append("\r\n");
      run = end + 1;
    }
    i = end + 1;
  }
  out.append(std::string_view(p + run, n - run));
}

}  // namespace

bool copy_crlf(const mime::Source& source, core::MessageBody& out) {
  char buf[65536];
  std::size_t off = 0;
  bool pending_cr = false;
  long n;
  while ((n = source.read_at(off, buf, sizeof buf)) > 0) {
    append_crlf(std::string_view(buf, static_cast<std::size_t>(n)), out, pending_cr);
    off += static_cast<std::size_t>(n);
  }
  if (pending_cr) out.append("\r\n");
  return n == 0 && out.ok();
}

bool has_bare_line_end(const mime::Source& source) {
  char buf[65536];
  std::size_t off = 0;
  bool prev_cr = false;
  long n;
  while ((n = source.read_at(off, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n; ++i) {
      if (buf[i] == '\n' && !prev_cr) return true;
      if (prev_cr && buf[i] != '\n') return true;
      prev_cr = buf[i] == '\r';
    }
    off += static_cast<std::size_t>(n);
  }
  return prev_cr;
}

crypto::BioPtr base64_into(core::MessageBody& out) {
  return crypto::base64_encoder_over(crypto::append_bio_over(out, true));
}

}  // namespace mailseal::gateway
