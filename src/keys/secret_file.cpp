// read_secret_file: see secret_file.h.

#include "keys/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailseal::keys {

Result<SecretBytes> read_secret_file(const std::filesystem::path& file, const std::string& what) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(what + " " + file.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & S_IRWXO) != 0) {
    ::close(fd);
    return fail(what + " " + file.string() + " is accessible by other users (chmod 600 or 640)");
  }
  SecretBytes buf(4096);
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n < 0 || static_cast<std::size_t>(n) == buf.size())
    return fail(what + " " + file.string() + ": unreadable or too long");
  std::size_t len = static_cast<std::size_t>(n);
  if (len > 0 && buf.data()[len - 1] == '\n') --len;
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  buf.truncate(len);
  return buf;
}

}  // namespace mailseal::keys
