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

crypto::BioPtr base64_into(core::MessageBody& out) {
  return crypto::base64_encoder_over(crypto::append_bio_over(out, true));
}

}  // namespace mailseal::gateway
