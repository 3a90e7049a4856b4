// The bytes of one message (after dot-unstuffing), held in memory while small and
// spilled to an anonymous temporary file (O_TMPFILE, never linked, gone on close) when
// large, so that a 100 MB attachment costs a file, not 100 MB of RAM.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

namespace mailseal::core {

class MessageBody {
 public:
  static constexpr std::size_t kDefaultMemoryLimit = 256 * 1024;
  // A followed body wakes its reader each time this many more bytes can be read.
  static constexpr std::size_t kGrowthStep = 128 * 1024;

  // spill_dir must exist; it is only used once the body outgrows memory_limit.
  explicit MessageBody(std::filesystem::path spill_dir,
                       std::size_t memory_limit = kDefaultMemoryLimit);
  ~MessageBody();
  MessageBody(const MessageBody&) = delete;
  MessageBody& operator=(const MessageBody&) = delete;
  // A moved-from body is empty and usable.
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
  std::error_code error() const;
  std::size_t size() const;
  bool spilled() const;

  // Reads up to n bytes at offset into buf; returns the count (0 at end), or -1 on error.
  // Spilled bodies are read through a read-ahead window, so the many small reads of a
  // MIME parser or a BIO chain cost one pread per window, not one per call.
  long read_at(std::size_t offset, char* buf, std::size_t n) const;
  // The whole body as a string (tests, small messages). Avoid on the data path.
  std::string to_string() const;

  // --- A body read by one thread while another still appends to it: a filter's copy that
  // the relay sends to the next hop as it is written (core::CopyListener). ---
  // Returns a second handle on the same bytes, for the reader; it keeps them alive when
  // this one is moved or destroyed. From this call on, append and read_at take the body's
  // lock. Call it on the writing thread, before handing the handle to the reader. For the
  // reader, read_at returning 0 means "nothing more yet": whether more will come is for
  // the writer to say (the relay knows when the filter returned).
  MessageBody follow();
  // Called on the writing thread, outside the body's lock, each time kGrowthStep more
  // bytes can be read, so the reader can wake (the last bytes: see follow()).
  void on_growth(std::function<void()> wake);
  // True when both handles are the same bytes (one came from the other's follow()).
  bool same_bytes(const MessageBody& other) const { return state_ == other.state_; }

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
  struct State;
  explicit MessageBody(std::shared_ptr<State> state);

  static constexpr std::size_t kWriteBuffer = 256 * 1024;
  static constexpr std::size_t kReadWindow = 256 * 1024;

  // Shared by the handles follow() makes; a plain body has the only one.
  std::shared_ptr<State> state_;
};

}  // namespace mailseal::core
