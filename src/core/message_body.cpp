// MessageBody: memory first, anonymous temp file after the limit.
#include "core/message_body.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailseal::core {

MessageBody::MessageBody(std::filesystem::path spill_dir, std::size_t memory_limit)
    : spill_dir_(std::move(spill_dir)), memory_limit_(memory_limit) {}

MessageBody::~MessageBody() {
  if (fd_ >= 0) ::close(fd_);
}

MessageBody::MessageBody(MessageBody&& other) noexcept
    : spill_dir_(std::move(other.spill_dir_)),
      memory_limit_(other.memory_limit_),
      memory_(std::move(other.memory_)),
      fd_(other.fd_),
      base_offset_(other.base_offset_),
      read_only_(other.read_only_),
      size_(other.size_),
      error_(other.error_),
      pending_(std::move(other.pending_)),
      window_(std::move(other.window_)),
      window_offset_(other.window_offset_),
      read_mutex_(std::move(other.read_mutex_)) {
  other.read_mutex_ = std::make_unique<std::mutex>();
  other.fd_ = -1;
  other.size_ = 0;
}

MessageBody& MessageBody::operator=(MessageBody&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    spill_dir_ = std::move(other.spill_dir_);
    memory_limit_ = other.memory_limit_;
    memory_ = std::move(other.memory_);
    fd_ = other.fd_;
    base_offset_ = other.base_offset_;
    read_only_ = other.read_only_;
    size_ = other.size_;
    error_ = other.error_;
    pending_ = std::move(other.pending_);
    window_ = std::move(other.window_);
    window_offset_ = other.window_offset_;
    std::swap(read_mutex_, other.read_mutex_);
    other.fd_ = -1;
    other.size_ = 0;
  }
  return *this;
}

MessageBody MessageBody::from_file(int fd, std::size_t offset, std::size_t size) {
  MessageBody body({}, 0);
  body.fd_ = fd;
  body.base_offset_ = offset;
  body.size_ = size;
  body.read_only_ = true;
  return body;
}

namespace {
bool write_all(int fd, const char* p, std::size_t n, std::error_code& ec) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      ec = std::error_code(errno, std::generic_category());
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

void MessageBody::spill() {
  fd_ = ::open(spill_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error_ = std::error_code(errno, std::generic_category());
    return;
  }
  if (write_all(fd_, memory_.data(), memory_.size(), error_)) {
    std::string().swap(memory_);
  }
}

void MessageBody::append(std::string_view bytes) {
  if (read_only_) error_ = std::make_error_code(std::errc::read_only_file_system);
  if (error_ || bytes.empty()) return;
  if (fd_ < 0 && memory_.size() + bytes.size() > memory_limit_) spill();
  if (error_) return;
  if (fd_ >= 0) {
    pending_.append(bytes);
    window_.clear();  // the file grows: a cached window may end early
    if (pending_.size() >= kWriteBuffer && !flush_pending()) return;
  } else {
    memory_.append(bytes);
  }
  size_ += bytes.size();
}

bool MessageBody::ok() const {
  if (fd_ < 0) return !error_;
  std::lock_guard lock(*read_mutex_);
  return flush_pending();
}

bool MessageBody::flush_pending() const {
  if (pending_.empty() || error_) return !error_;
  std::error_code ec;
  bool ok = write_all(fd_, pending_.data(), pending_.size(), ec);
  if (!ok) error_ = ec;
  pending_.clear();
  return ok;
}

long MessageBody::read_at(std::size_t offset, char* buf, std::size_t n) const {
  if (offset >= size_) return 0;
  n = std::min(n, size_ - offset);
  if (fd_ < 0) {
    std::memcpy(buf, memory_.data() + offset, n);
    return static_cast<long>(n);
  }
  std::lock_guard lock(*read_mutex_);
  if (!flush_pending()) return -1;
  if (n >= kReadWindow) {  // large reads go straight to the file
    while (true) {
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(base_offset_ + offset));
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  if (offset < window_offset_ || offset >= window_offset_ + window_.size()) {
    window_.resize(kReadWindow);
    ssize_t r;
    do {
      r = ::pread(fd_, window_.data(), window_.size(), static_cast<off_t>(base_offset_ + offset));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
      window_.clear();
      return static_cast<long>(r);
    }
    window_.resize(static_cast<std::size_t>(r));
    window_offset_ = offset;
  }
  std::size_t in_window = std::min(n, window_offset_ + window_.size() - offset);
  std::memcpy(buf, window_.data() + (offset - window_offset_), in_window);
  return static_cast<long>(in_window);
}

std::string MessageBody::to_string() const {
  if (fd_ < 0) return memory_;
  std::string out(size_, '\0');
  std::size_t off = 0;
  while (off < size_) {
    long r = read_at(off, out.data() + off, size_ - off);
    if (r <= 0) break;
    off += static_cast<std::size_t>(r);
  }
  out.resize(off);
  return out;
}

}  // namespace mailseal::core
