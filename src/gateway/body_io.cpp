// MessageBody adapters for mime::Source / AppendFn and OpenSSL BIOs.
#include "gateway/body_io.h"

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

bool copy_crlf(const mime::Source& source, core::MessageBody& out) {
  char buf[65536];
  std::string chunk;
  std::size_t off = 0;
  bool pending_cr = false;  // the previous chunk ended in CR
  long n;
  while ((n = source.read_at(off, buf, sizeof buf)) > 0) {
    chunk.clear();
    for (long i = 0; i < n; ++i) {
      char c = buf[i];
      if (pending_cr) {
        chunk += "\r\n";
        pending_cr = false;
        if (c == '\n') continue;
      }
      if (c == '\r') {
        pending_cr = true;
      } else if (c == '\n') {
        chunk += "\r\n";
      } else {
        chunk.push_back(c);
      }
    }
    out.append(chunk);
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
