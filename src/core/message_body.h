// The bytes of one message (after dot-unstuffing), held in memory while small and
// spilled to an anonymous temporary file (O_TMPFILE, never linked, gone on close) when
// large, so that a 100 MB attachment costs a file, not 100 MB of RAM.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
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

  // A read-only body over bytes [offset, offset + size) of an open file (a queue file);
  // takes ownership of fd. append() on it is an error.
  static MessageBody from_file(int fd, std::size_t offset, std::size_t size);

  // Appends bytes. On a write failure (disk full) the error is kept, later appends are
  // ignored, and ok() turns false: the caller answers 452 4.3.1 instead of losing data.
  void append(std::string_view bytes);
  // Writes out buffered bytes first: false if anything could not be stored.
  bool ok() const;
  std::error_code error() const { return error_; }
  std::size_t size() const { return size_; }
  bool spilled() const { return fd_ >= 0; }

  // Reads up to n bytes at offset into buf; returns the count (0 at end), or -1 on error.
  // Spilled bodies are read through a read-ahead window, so the many small reads of a
  // MIME parser or a BIO chain cost one pread per window, not one per call.
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
  bool flush_pending() const;  // writes the append buffer to the file

  static constexpr std::size_t kWriteBuffer = 256 * 1024;
  static constexpr std::size_t kReadWindow = 256 * 1024;

  std::filesystem::path spill_dir_;
  std::size_t memory_limit_;
  std::string memory_;
  int fd_ = -1;
  std::size_t base_offset_ = 0;  // where the body starts in fd_ (from_file)
  bool read_only_ = false;
  std::size_t size_ = 0;
  mutable std::error_code error_;
  // Spilled: bytes appended but not yet written (kept small; flushed before any read).
  mutable std::string pending_;
  // Read-ahead window [window_offset_, window_offset_ + window_.size()) of the file.
  mutable std::string window_;
  mutable std::size_t window_offset_ = 0;
  mutable std::unique_ptr<std::mutex> read_mutex_ = std::make_unique<std::mutex>();
};

}  // namespace mailseal::core
