// BIO adapters so message bodies stream through OpenSSL without being held in memory:
// a read BIO over any positional reader (core::MessageBody::read_at) and a write BIO
// over any appender (MessageBody::append). crypto/ does not link core/, hence callbacks.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "crypto/openssl_ptr.h"

namespace mailseal::crypto {

// Reads up to n bytes at offset; returns the count, 0 at end, -1 on error.
using ReadAtFn = std::function<long(std::size_t offset, char* buf, std::size_t n)>;
// Appends bytes; returns false on a write failure.
using AppendFn = std::function<bool(std::string_view bytes)>;

// A source/sink BIO. The callbacks must outlive the BIO.
BioPtr make_read_bio(ReadAtFn read_at);
// lf_to_crlf: every "\n" written is emitted as "\r\n" (for base64 output of BIO_f_base64,
// whose lines end in bare LF, so that it can go straight into a CRLF mail body).
BioPtr make_append_bio(AppendFn append, bool lf_to_crlf = false);

// Adapters for any type with MessageBody's read_at/append/ok shape.
template <class Body>
BioPtr read_bio_over(const Body& body) {
  return make_read_bio(
      [&body](std::size_t off, char* buf, std::size_t n) { return body.read_at(off, buf, n); });
}
template <class Body>
BioPtr append_bio_over(Body& body, bool lf_to_crlf = false) {
  return make_append_bio(
      [&body](std::string_view bytes) {
        body.append(bytes);
        return body.ok();
      },
      lf_to_crlf);
}

// Pushes a base64 filter (CRLF lines of 64 characters) in front of `sink`; returns the
// chain head. Use BIO_flush on the head before freeing it.
BioPtr base64_encoder_over(BioPtr sink);

}  // namespace mailseal::crypto
