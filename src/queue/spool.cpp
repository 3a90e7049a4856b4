// Spool: durable enqueue (write, fsync, rename, fsync directory) and operator moves.
#include "queue/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace mailseal::queue {

namespace {

std::error_code fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  std::error_code ec;
  if (::fsync(fd) != 0) ec = {errno, std::generic_category()};
  ::close(fd);
  return ec;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool Spool::valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  return true;
}

std::filesystem::path Spool::folder(Folder f) const {
  switch (f) {
    case Folder::active:
      return dir_ / "active";
    case Folder::hold:
      return dir_ / "hold";
    case Folder::corrupt:
      return dir_ / "corrupt";
  }
  return dir_;
}

std::filesystem::path Spool::path(Folder f, const std::string& id) const {
  return folder(f) / id;
}

std::error_code Spool::prepare() {
  std::error_code ec;
  for (const char* sub : {"", "incoming", "active", "hold", "corrupt"}) {
    auto p = sub[0] ? dir_ / sub : dir_;
    std::filesystem::create_directories(p, ec);
    if (ec) return ec;
    std::filesystem::permissions(p, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    if (ec) return ec;
  }
  // Never acknowledged: the client got no 250 for these.
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "incoming", ec))
    std::filesystem::remove(e.path(), ec);
  return {};
}

std::error_code Spool::enqueue(const std::vector<NewMessage>& messages) {
  const auto now = now_seconds();
  std::vector<std::filesystem::path> written;
  std::error_code ec;
  for (const auto& m : messages) {
    if (!valid_id(m.id)) {
      ec = std::make_error_code(std::errc::invalid_argument);
      break;
    }
    auto tmp = dir_ / "incoming" / m.id;
    ec = write_queue_file(tmp, m, now);
    if (ec) break;
    written.push_back(tmp);
  }
  if (ec) {
    for (const auto& p : written) ::unlink(p.c_str());
    return ec;
  }
  std::size_t moved = 0;
  for (; moved < messages.size(); ++moved) {
    if (::rename(written[moved].c_str(), path(Folder::active, messages[moved].id).c_str()) != 0) {
      ec = {errno, std::generic_category()};
      break;
    }
  }
  if (!ec) ec = fsync_dir(folder(Folder::active));
  if (ec) {
    // Not durable as a whole: take back what was moved, so nothing is delivered for a
    // message the client will retry.
    for (std::size_t i = 0; i < moved; ++i) ::unlink(path(Folder::active, messages[i].id).c_str());
    for (std::size_t i = moved; i < written.size(); ++i) ::unlink(written[i].c_str());
  }
  return ec;
}

std::vector<std::string> Spool::list(Folder f) const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(folder(f), ec)) {
    auto name = e.path().filename().string();
    if (valid_id(name)) ids.push_back(name);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Spool::move(const std::string& id, Folder from, Folder to) {
  if (!valid_id(id)) return false;
  if (::rename(path(from, id).c_str(), path(to, id).c_str()) != 0) return false;
  fsync_dir(folder(to));
  fsync_dir(folder(from));
  return true;
}

bool Spool::remove(const std::string& id, Folder f, bool durable) {
  if (!valid_id(id)) return false;
  if (::unlink(path(f, id).c_str()) != 0) return false;
  if (durable) fsync_dir(folder(f));
  return true;
}

}  // namespace mailseal::queue
