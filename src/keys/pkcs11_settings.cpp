// PIN file reading with the permission rules of pkcs11_settings.h.
#include "keys/pkcs11_settings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailseal::keys {

Result<SecretBytes> read_pin_file(const std::filesystem::path& path) {
  if (path.empty()) return fail("no PIN file configured (keys.pkcs11.pin_file)");
  // O_NOFOLLOW: a symlink planted in place of the PIN file could make us read (and the
  // token receive) another file; fstat on the open descriptor avoids a check/use race.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail("cannot open PIN file " + path.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return fail("cannot stat PIN file " + path.string());
  }
  auto refuse = [&](const std::string& why) {
    ::close(fd);
    return fail("PIN file " + path.string() + " " + why);
  };
  if (!S_ISREG(st.st_mode)) return refuse("is not a regular file");
  if (st.st_uid != ::geteuid()) return refuse("is not owned by this user");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return refuse("is accessible by group or others (chmod 600 it)");
  if (st.st_size > 1024) return refuse("is too large for a PIN");
  SecretBytes buf(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.truncate(got);
  std::size_t n = buf.size();
  if (n > 0 && buf.data()[n - 1] == '\n') --n;
  if (n > 0 && buf.data()[n - 1] == '\r') --n;
  buf.truncate(n);
  if (buf.empty()) return fail("PIN file " + path.string() + " is empty");
  return buf;
}

std::string trim_label(const char* field, std::size_t width) {
  std::size_t n = strnlen(field, width);
  while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0')) --n;
  return std::string(field, n);
}

}  // namespace mailseal::keys
