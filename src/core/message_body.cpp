// MessageBody: memory first, anonymous temp file after the limit.
#include "core/message_body.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mailseal::core {

struct MessageBody::State {
  State(std::filesystem::path dir, std::size_t limit)
      : spill_dir(std::move(dir)), memory_limit(limit) {}
  ~State() {
    if (fd >= 0) ::close(fd);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  void spill();
  void append(std::string_view bytes);
  bool flush_pending();  // writes the append buffer to the file
  long read_at(std::size_t offset, char* buf, std::size_t n);

  std::filesystem::path spill_dir;
  std::size_t memory_limit;
  std::string memory;
  int fd = -1;
  std::size_t base_offset = 0;  // where the body starts in fd (from_file)
  bool read_only = false;
  std::size_t size = 0;
  std::error_code error;
  // Spilled: bytes appended but not yet written (kept small; flushed before any read).
  std::string pending;
  // Read-ahead window [window_offset, window_offset + window.size()) of the file.
  std::string window;
  std::size_t window_offset = 0;
  // Guards everything above for spilled reads (the window is shared by readers) and, once
  // followed, for every append and read.
  std::mutex mutex;
  bool followed = false;  // set on the writing thread before a second handle exists
  std::function<void()> wake;
  std::size_t woken_at = 0;  // size when wake was last called
};

MessageBody::MessageBody(std::filesystem::path spill_dir, std::size_t memory_limit)
    : state_(std::make_shared<State>(std::move(spill_dir), memory_limit)) {}

MessageBody::MessageBody(std::shared_ptr<State> state) : state_(std::move(state)) {}

MessageBody::~MessageBody() = default;

MessageBody::MessageBody(MessageBody&& other) noexcept
    : state_(std::exchange(other.state_, std::make_shared<State>(other.state_->spill_dir,
                                                                 other.state_->memory_limit))) {}

MessageBody& MessageBody::operator=(MessageBody&& other) noexcept {
  if (this != &other)
    state_ = std::exchange(
        other.state_, std::make_shared<State>(other.state_->spill_dir, other.state_->memory_limit));
  return *this;
}

MessageBody MessageBody::from_file(int fd, std::size_t offset, std::size_t size) {
  MessageBody body({}, 0);
  body.state_->fd = fd;
  body.state_->base_offset = offset;
  body.state_->size = size;
  body.state_->read_only = true;
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

void MessageBody::State::spill() {
  fd = ::open(spill_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = std::error_code(errno, std::generic_category());
    return;
  }
  if (write_all(fd, memory.data(), memory.size(), error)) {
    std::string().swap(memory);
  }
}

void MessageBody::State::append(std::string_view bytes) {
  if (read_only) error = std::make_error_code(std::errc::read_only_file_system);
  if (error || bytes.empty()) return;
  if (fd < 0 && memory.size() + bytes.size() > memory_limit) spill();
  if (error) return;
  if (fd >= 0) {
    pending.append(bytes);
    window.clear();  // the file grows: a cached window may end early
    if (pending.size() >= kWriteBuffer && !flush_pending()) return;
  } else {
    memory.append(bytes);
  }
  size += bytes.size();
}

void MessageBody::append(std::string_view bytes) {
  State& s = *state_;
  if (!s.followed) {
    s.append(bytes);
    return;
  }
  std::function<void()> wake;
  {
    std::lock_guard lock(s.mutex);
    s.append(bytes);
    if (s.wake && s.size >= s.woken_at + kGrowthStep) {
      s.woken_at = s.size;
      wake = s.wake;
    }
  }
  if (wake) wake();
}

bool MessageBody::ok() const {
  State& s = *state_;
  if (s.fd < 0 && !s.followed) return !s.error;
  std::lock_guard lock(s.mutex);
  return s.flush_pending();
}

std::error_code MessageBody::error() const {
  if (!state_->followed) return state_->error;
  std::lock_guard lock(state_->mutex);
  return state_->error;
}

std::size_t MessageBody::size() const {
  if (!state_->followed) return state_->size;
  std::lock_guard lock(state_->mutex);
  return state_->size;
}

bool MessageBody::spilled() const {
  if (!state_->followed) return state_->fd >= 0;
  std::lock_guard lock(state_->mutex);
  return state_->fd >= 0;
}

bool MessageBody::State::flush_pending() {
  if (pending.empty() || error) return !error;
  std::error_code ec;
  bool ok = write_all(fd, pending.data(), pending.size(), ec);
  if (!ok) error = ec;
  pending.clear();
  return ok;
}

long MessageBody::read_at(std::size_t offset, char* buf, std::size_t n) const {
  State& s = *state_;
  if (s.fd < 0 && !s.followed) return s.read_at(offset, buf, n);
  std::lock_guard lock(s.mutex);
  return s.read_at(offset, buf, n);
}

long MessageBody::State::read_at(std::size_t offset, char* buf, std::size_t n) {
  if (offset >= size) return 0;
  n = std::min(n, size - offset);
  if (fd < 0) {
    std::memcpy(buf, memory.data() + offset, n);
    return static_cast<long>(n);
  }
  if (!flush_pending()) return -1;
  if (n >= kReadWindow) {  // large reads go straight to the file
    while (true) {
      ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(base_offset + offset));
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  if (offset < window_offset || offset >= window_offset + window.size()) {
    window.resize(kReadWindow);
    ssize_t r;
    do {
      r = ::pread(fd, window.data(), window.size(), static_cast<off_t>(base_offset + offset));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
      window.clear();
      return static_cast<long>(r);
    }
    window.resize(static_cast<std::size_t>(r));
    window_offset = offset;
  }
  std::size_t in_window = std::min(n, window_offset + window.size() - offset);
  std::memcpy(buf, window.data() + (offset - window_offset), in_window);
  return static_cast<long>(in_window);
}

std::string MessageBody::to_string() const {
  std::string out(size(), '\0');
  std::size_t off = 0;
  while (off < out.size()) {
    long r = read_at(off, out.data() + off, out.size() - off);
    if (r <= 0) break;
    off += static_cast<std::size_t>(r);
  }
  out.resize(off);
  return out;
}

MessageBody MessageBody::follow() {
  state_->followed = true;
  return MessageBody(state_);
}

void MessageBody::on_growth(std::function<void()> wake) {
  std::lock_guard lock(state_->mutex);
  state_->wake = std::move(wake);
  state_->woken_at = state_->size;
}

}  // namespace mailseal::core
