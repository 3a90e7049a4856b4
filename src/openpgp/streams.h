// Where OpenPGP operations read from and write to: a Source is a MessageBody (streamed
// through RNP callbacks, so a 50 MB body is never held whole in memory) or bytes in
// memory; a Sink is a MessageBody (append) or a std::string. Both only borrow.
#pragma once

#include <string>
#include <string_view>

#include "core/message_body.h"

namespace mailseal::openpgp {

class Source {
 public:
  Source(const core::MessageBody& body) : body_(&body) {}         // NOLINT: implicit on purpose
  Source(std::string_view bytes) : bytes_(bytes) {}               // NOLINT
  Source(const std::string& bytes) : bytes_(bytes) {}             // NOLINT
  Source(const char* nul_terminated) : bytes_(nul_terminated) {}  // NOLINT

  const core::MessageBody* body() const { return body_; }
  std::string_view bytes() const { return bytes_; }

 private:
  const core::MessageBody* body_ = nullptr;
  std::string_view bytes_;
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
