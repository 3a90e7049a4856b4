// Queue file format (text header, then the message):
//   MAILSEAL-QUEUE 1
//   id <id>
//   lane outbound|inbound
//   arrival <epoch seconds>
//   sender <address or nothing>
//   flags [8bit] [smtputf8]
//   schedule <attempts:6> <next attempt:20> <warned:1>     (rewritten in place)
//   rcpt <P|D|F> <address>                                 (state byte rewritten in place)
//   reply <kReplySlot bytes, space padded>                 (rewritten in place)
//   ... one rcpt/reply pair per recipient ...
//   body <size>
//   <size bytes of message>
#include "queue/queue_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "util/strings.h"

namespace mailseal::queue {

namespace {

constexpr std::string_view kMagic = "MAILSEAL-QUEUE 1";
constexpr std::size_t kMaxHeader = 64 * 1024 * 1024;  // 100,000 recipients fit

std::error_code last_error() {
  return {errno, std::generic_category()};
}

std::error_code write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

std::error_code pwrite_all(int fd, std::string_view s, std::size_t offset) {
  while (!s.empty()) {
    ssize_t w = ::pwrite(fd, s.data(), s.size(), static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    s.remove_prefix(static_cast<std::size_t>(w));
    offset += static_cast<std::size_t>(w);
  }
  return {};
}

std::string schedule_field(int attempts, std::int64_t next, bool warned) {
  return fmt::format("{:06d} {:020d} {}", std::min(attempts, 999999),
                     std::max<std::int64_t>(next, 0), warned ? 1 : 0);
}

std::string reply_field(const std::string& reply) {
  std::string r = util::printable(reply, kReplySlot);
  r.resize(kReplySlot, ' ');
  return r;
}

bool clean(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string_view lane_name(Lane lane) {
  return lane == Lane::outbound ? "outbound" : "inbound";
}
Lane other_lane(Lane lane) {
  return lane == Lane::outbound ? Lane::inbound : Lane::outbound;
}

bool QueueHeader::has_state(RecipientState state) const {
  for (const auto& r : recipients)
    if (r.state == state) return true;
  return false;
}

bool QueueHeader::has_pending() const {
  return has_state(RecipientState::pending);
}

std::string format_reply(const smtp::Reply& reply) {
  std::string text = reply.text;
  for (char& c : text)
    if (c == '\r' || c == '\n') c = ' ';
  return reply.enhanced.empty() ? fmt::format("{} {}", reply.code, text)
                                : fmt::format("{} {} {}", reply.code, reply.enhanced, text);
}

std::error_code write_queue_file(const std::filesystem::path& path, const NewMessage& m,
                                 std::int64_t now) {
  if (!clean(m.id) || !clean(m.sender)) return std::make_error_code(std::errc::invalid_argument);
  std::string header;
  header += fmt::format("{}\nid {}\nlane {}\narrival {}\nsender {}\nflags{}{}\nschedule {}\n",
                        kMagic, m.id, lane_name(m.lane), now, m.sender, m.body_8bit ? " 8bit" : "",
                        m.smtputf8 ? " smtputf8" : "", schedule_field(0, 0, false));
  for (const auto& r : m.recipients) {
    if (!clean(r) || r.empty()) return std::make_error_code(std::errc::invalid_argument);
    header += fmt::format("rcpt P {}\nreply {}\n", r, reply_field(""));
  }
  const std::size_t body_size = m.prefix.size() + (m.body ? m.body->size() : m.owned_body.size());
  header += fmt::format("body {}\n", body_size);

  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return last_error();
  std::error_code ec = write_all(fd, header.data(), header.size());
  if (!ec) ec = write_all(fd, m.prefix.data(), m.prefix.size());
  if (!ec && m.body) {
    auto reader = m.body->reader();
    std::string chunk(256 * 1024, '\0');
    for (long n; !ec && (n = reader.read(chunk.data(), chunk.size())) != 0;) {
      if (n < 0) {
        ec = std::make_error_code(std::errc::io_error);
        break;
      }
      ec = write_all(fd, chunk.data(), static_cast<std::size_t>(n));
    }
  } else if (!ec) {
    ec = write_all(fd, m.owned_body.data(), m.owned_body.size());
  }
  // The 250 is only given once the bytes are on stable storage.
  if (!ec && ::fsync(fd) != 0) ec = last_error();
  ::close(fd);
  if (ec) ::unlink(path.c_str());
  return ec;
}

std::optional<QueueHeader> read_queue_header(int fd, std::string& error) {
  QueueHeader h;
  std::string buf;
  std::size_t pos = 0;     // start of the next unparsed line in buf
  std::size_t offset = 0;  // file offset of buf[0] (always 0: buf holds the whole header)
  bool at_end = false;
  auto next_line = [&](std::string_view& line) -> bool {
    while (true) {
      auto nl = buf.find('\n', pos);
      if (nl != std::string::npos) {
        line = std::string_view(buf).substr(pos, nl - pos);
        pos = nl + 1;
        return true;
      }
      if (at_end || buf.size() > kMaxHeader) return false;
      char chunk[64 * 1024];
      ssize_t n = ::pread(fd, chunk, sizeof chunk, static_cast<off_t>(offset + buf.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        at_end = true;
        continue;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  };
  auto fail = [&](std::string why) -> std::optional<QueueHeader> {
    error = std::move(why);
    return std::nullopt;
  };
  std::string_view line;
  if (!next_line(line) || line != kMagic) return fail("not a mailseal queue file");
  auto field = [&](std::string_view name, std::string_view& value) {
    if (!next_line(line) || !line.starts_with(name)) return false;
    line.remove_prefix(name.size());
    if (line.empty()) {
      value = line;
      return true;
    }
    if (line.front() != ' ') return false;
    value = line.substr(1);
    return true;
  };
  std::string_view v;
  if (!field("id", v) || v.empty()) return fail("bad id line");
  h.id = v;
  if (!field("lane", v) || (v != "outbound" && v != "inbound")) return fail("bad lane line");
  h.lane = v == "outbound" ? Lane::outbound : Lane::inbound;
  if (!field("arrival", v) || !parse_number(v, h.arrival)) return fail("bad arrival line");
  if (!field("sender", v)) return fail("bad sender line");
  h.sender = v;
  if (!field("flags", v)) return fail("bad flags line");
  for (auto flag : util::split(v, ' ')) {
    if (flag == "8bit") h.body_8bit = true;
    if (flag == "smtputf8") h.smtputf8 = true;
  }
  std::size_t schedule_line = pos;
  if (!field("schedule", v) || v.size() != 29 || !parse_number(v.substr(0, 6), h.attempts) ||
      !parse_number(v.substr(7, 20), h.next_attempt) || (v[28] != '0' && v[28] != '1'))
    return fail("bad schedule line");
  h.schedule_offset = schedule_line + 9;
  h.warned = v[28] == '1';
  while (true) {
    std::size_t line_start = pos;
    if (!next_line(line)) return fail("header ends early");
    if (line.starts_with("body ")) {
      if (!parse_number(line.substr(5), h.body_size)) return fail("bad body line");
      h.body_offset = pos;
      break;
    }
    if (!line.starts_with("rcpt ") || line.size() < 8 || line[6] != ' ')
      return fail("bad recipient line");
    QueuedRecipient r;
    char state = line[5];
    if (state != 'P' && state != 'D' && state != 'F' && state != 'R')
      return fail("bad recipient state");
    r.state = static_cast<RecipientState>(state);
    r.state_offset = line_start + 5;
    r.address = line.substr(7);
    std::size_t reply_start = pos;
    if (!next_line(line) || !line.starts_with("reply ") || line.size() != 6 + kReplySlot)
      return fail("bad reply line");
    r.reply_offset = reply_start + 6;
    std::string_view reply = line.substr(6);
    while (!reply.empty() && reply.back() == ' ') reply.remove_suffix(1);
    r.last_reply = reply;
    h.recipients.push_back(std::move(r));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail("cannot stat");
  if (static_cast<std::size_t>(st.st_size) != h.body_offset + h.body_size)
    return fail(fmt::format("truncated: {} bytes, header says {}", st.st_size,
                            h.body_offset + h.body_size));
  if (h.recipients.empty()) return fail("no recipients");
  return h;
}

std::optional<QueueFile> QueueFile::open(const std::filesystem::path& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    error = std::error_code(errno, std::generic_category()).message();
    return std::nullopt;
  }
  auto header = read_queue_header(fd, error);
  if (!header) {
    ::close(fd);
    return std::nullopt;
  }
  return QueueFile(fd, std::move(*header));
}

QueueFile::QueueFile(QueueFile&& o) noexcept : fd_(o.fd_), header_(std::move(o.header_)) {
  o.fd_ = -1;
}

QueueFile& QueueFile::operator=(QueueFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    header_ = std::move(o.header_);
    o.fd_ = -1;
  }
  return *this;
}

QueueFile::~QueueFile() {
  if (fd_ >= 0) ::close(fd_);
}

core::MessageBody QueueFile::body() const {
  int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  return core::MessageBody::from_file(fd, header_.body_offset, header_.body_size);
}

std::error_code QueueFile::set_recipient(std::size_t index, RecipientState state,
                                         const std::string& reply) {
  auto& r = header_.recipients.at(index);
  r.state = state;
  r.last_reply = util::printable(reply, kReplySlot);
  std::string s(1, static_cast<char>(state));
  if (auto ec = pwrite_all(fd_, s, r.state_offset)) return ec;
  return pwrite_all(fd_, reply_field(reply), r.reply_offset);
}

std::error_code QueueFile::set_schedule(int attempts, std::int64_t next_attempt, bool warned) {
  header_.attempts = attempts;
  header_.next_attempt = next_attempt;
  header_.warned = warned;
  return pwrite_all(fd_, schedule_field(attempts, next_attempt, warned), header_.schedule_offset);
}

std::error_code QueueFile::sync() {
  if (::fdatasync(fd_) != 0) return last_error();
  return {};
}

}  // namespace mailseal::queue
