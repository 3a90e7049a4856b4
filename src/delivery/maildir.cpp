// MaildirNextHop: crash-safe final delivery.
#include "delivery/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace mailseal::delivery {

namespace {

smtp::Reply io_error(int err, const char* what) {
  if (err == ENOSPC || err == EDQUOT)
    return smtp::make_reply(452, "4.3.1", "Insufficient system storage");
  return smtp::make_reply(451, "4.3.0",
                          fmt::format("Local delivery failed ({}: {})", what, std::strerror(err)));
}

bool ensure_dir(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::create_directories(p, ec);
  return std::filesystem::is_directory(p, ec);
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = ::write(fd, s.data(), s.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

}  // namespace

MaildirNextHop::MaildirNextHop(std::filesystem::path path_template, std::string hostname)
    : template_(std::move(path_template)), hostname_(std::move(hostname)) {}

std::filesystem::path MaildirNextHop::folder_for(const std::string& recipient) const {
  std::string t = template_.string();
  auto pos = t.find("%r");
  if (pos == std::string::npos) return template_;
  std::string safe;
  for (char c : recipient) safe += (c == '/' || c == '\\' || c == '\0') ? '_' : c;
  while (!safe.empty() && safe.front() == '.') safe.front() = '_';
  t.replace(pos, 2, safe);
  return t;
}

smtp::Reply MaildirNextHop::write_one(const std::filesystem::path& folder,
                                      const DeliveryRequest& request) {
  for (const char* sub : {"tmp", "new", "cur"})
    if (!ensure_dir(folder / sub)) return io_error(errno ? errno : EACCES, "mkdir");
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  std::string name =
      fmt::format("{}.M{}P{}Q{}.{}", us / 1000000, us % 1000000, ::getpid(), ++counter_, hostname_);
  std::filesystem::path tmp = folder / "tmp" / name;
  std::filesystem::path dst = folder / "new" / name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error(errno, "open");
  // Return-Path records the envelope sender at final delivery (RFC 5321 4.4).
  bool ok = write_all(fd, "Return-Path: <" + request.envelope->sender + ">\r\n") &&
            write_all(fd, request.prefix);
  char buf[64 * 1024];
  auto reader = request.body->reader();
  while (ok) {
    long n = reader.read(buf, sizeof buf);
    if (n < 0) ok = false;
    if (n <= 0) break;
    ok = write_all(fd, std::string_view(buf, static_cast<std::size_t>(n)));
  }
  int err = ok ? 0 : errno;
  if (ok && ::fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), dst.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return io_error(err, "write");
  }
  int dfd = ::open((folder / "new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return smtp::make_reply(250, "2.0.0", "Ok: delivered to maildir as " + name);
}

net::awaitable<DeliveryResult> MaildirNextHop::deliver(const DeliveryRequest& request) {
  DeliveryResult result;
  const bool per_recipient = template_.string().find("%r") != std::string::npos;
  if (!per_recipient) {
    result = all_recipients(request, write_one(template_, request));
  } else {
    for (const auto& r : request.recipients)
      result.recipients.push_back({r, write_one(folder_for(r), request)});
  }
  result.summary = result.recipients.empty() ? "" : result.recipients.front().reply.brief();
  co_return result;
}

}  // namespace mailseal::delivery
