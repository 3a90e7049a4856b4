// The bytes of one message (after dot-unstuffing), held in memory while small and
// spilled to an anonymous temporary file (O_TMPFILE, never linked, gone on close) when
// large, so that a 100 MB attachment costs a file, not 100 MB of RAM.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace mailseal::core {

class MessageBody {
 public:
  static constexpr std::size_t kDefaultMemoryLimit = 256 * 1024;

  // spill_dir must exist; it is only used once the body outgrows memory_limit.
  explicit MessageBody(std::filesystem::path spill_dir,
                       std::size_t memory_limit = kDefaultMemoryLimit);
  ~MessageBody();
  MessageBody(const MessageBody&) = delete;
  MessageBody& operator=(const MessageBody&) = delete;
  MessageBody(MessageBody&&) noexcept;
  MessageBody& operator=(MessageBody&&) noexcept;

  // Appends bytes. On a write failure (disk full) the error is kept, later appends are
  // ignored, and ok() turns false: the caller answers 452 4.3.1 instead of losing data.
  void append(std::string_view bytes);
  bool ok() const { return !error_; }
  std::error_code error() const { return error_; }
  std::size_t size() const { return size_; }
  bool spilled() const { return fd_ >= 0; }

  // Reads up to n bytes at offset into buf; returns the count (0 at end), or -1 on error.
  long read_at(std::size_t offset, char* buf, std::size_t n) const;
  // The whole body as a string (tests, small messages). Avoid on the data path.
  std::string to_string() const;

  // Sequential reader with its own position.
  class Reader {
   public:
    explicit Reader(const MessageBody& body) : body_(&body) {}
    // Returns bytes read (0 at end), -1 on error.
    long read(char* buf, std::size_t n) {
      long got = body_->read_at(pos_, buf, n);
      if (got > 0) pos_ += static_cast<std::size_t>(got);
      return got;
    }
    std::size_t position() const { return pos_; }

   private:
    const MessageBody* body_;
    std::size_t pos_ = 0;
  };
  Reader reader() const { return Reader(*this); }

 private:
  void spill();

  std::filesystem::path spill_dir_;
  std::size_t memory_limit_;
  std::string memory_;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::error_code error_;
};

}  // namespace mailseal::core
