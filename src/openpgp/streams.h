// Where OpenPGP operations read from and write to: a Source is a MessageBody (streamed
// through RNP callbacks, so a 50 MB body is never held whole in memory) or bytes in
// memory; a Sink is a MessageBody (append) or a std::string. Both only borrow.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/message_body.h"

namespace mailseal::openpgp {

class Source {
 public:
  // Positional reads (offset, buffer, length) -> bytes read, 0 at the end, < 0 on error:
  // e.g. a message entity read in place from parts of other bodies (mime::Source).
  using ReadAt = std::function<long(std::size_t offset, char* buf, std::size_t n)>;

  Source(const core::MessageBody& body) : body_(&body) {}         // NOLINT: implicit on purpose
  Source(std::string_view bytes) : bytes_(bytes) {}               // NOLINT
  Source(const std::string& bytes) : bytes_(bytes) {}             // NOLINT
  Source(const char* nul_terminated) : bytes_(nul_terminated) {}  // NOLINT
  Source(ReadAt read_at, std::size_t size) : read_at_(std::move(read_at)), size_(size) {}

  const core::MessageBody* body() const { return body_; }
  std::string_view bytes() const { return bytes_; }
  const ReadAt& read_at() const { return read_at_; }
  std::size_t size() const { return size_; }

 private:
  const core::MessageBody* body_ = nullptr;
  std::string_view bytes_;
  ReadAt read_at_;
  std::size_t size_ = 0;
};

// On a failed operation a Sink may already hold partial output (RNP streams plaintext
// before the integrity check at the end): the caller must discard it.
class Sink {
 public:
  Sink(core::MessageBody& body) : body_(&body) {}  // NOLINT: implicit on purpose
  Sink(std::string& out) : string_(&out) {}        // NOLINT

  core::MessageBody* body() const { return body_; }
  std::string* string() const { return string_; }

 private:
  core::MessageBody* body_ = nullptr;
  std::string* string_ = nullptr;
};

}  // namespace mailseal::openpgp
