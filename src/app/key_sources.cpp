// make_key_sources: [keys] sources -> KeySource objects (see key_sources.h).
#include "app/key_sources.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace mailseal::app {
namespace {

// The bind password: a file readable by other users would hand them the directory
// credential, so it is refused (like the master key); one trailing newline is ignored.
bool read_password(const std::filesystem::path& file, keys::SecretBytes& out, std::string& error) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "keys.ldap.bind_password_file " + file.string() + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & S_IRWXO) != 0) {
    ::close(fd);
    error = "keys.ldap.bind_password_file " + file.string() +
            " is accessible by other users (chmod 600 or 640)";
    return false;
  }
  keys::SecretBytes buf(4096);
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n < 0 || static_cast<std::size_t>(n) == buf.size()) {
    error = "keys.ldap.bind_password_file " + file.string() + ": unreadable or too long";
    return false;
  }
  std::size_t len = static_cast<std::size_t>(n);
  if (len > 0 && buf.data()[len - 1] == '\n') --len;
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  buf.truncate(len);
  out = std::move(buf);
  return true;
}

bool make_ldap(const core::LdapConfig& c, bool log_events,
               std::unique_ptr<keys::LdapKeySource>& out, std::string& error) {
  keys::LdapOptions o;
  o.url = c.url;
  o.base_dn = c.base_dn;
  o.filter = c.filter;
  o.bind_dn = c.bind_dn;
  if (!c.bind_password_file.empty() && !read_password(c.bind_password_file, o.bind_password, error))
    return false;
  o.starttls = c.starttls == "require";
  o.ca_file = c.ca_file.string();
  o.timeout = c.timeout;
  o.pgp_attribute = c.pgp_attribute;
  auto log = [](keys::LdapKeySource::LogLevel level, const std::string& text) {
    if (level == keys::LdapKeySource::LogLevel::warn)
      spdlog::warn("{}", text);
    else
      spdlog::info("{}", text);
  };
  out = std::make_unique<keys::LdapKeySource>(
      std::move(o), nullptr,
      log_events ? keys::LdapKeySource::Logger(log) : keys::LdapKeySource::Logger());
  return true;
}

}  // namespace

bool make_key_sources(const core::Config& config, keys::KeySource& store, KeySources& out,
                      std::string& error, bool log) {
  for (const auto& name : config.keys.sources) {
    if (name == "store") {
      out.ordered.push_back(&store);
    } else if (name == "ldap") {
      if (!config.keys.ldap.enabled()) {
        error = "keys.sources lists \"ldap\" but [keys.ldap] has no url";
        return false;
      }
      if (!make_ldap(config.keys.ldap, log, out.ldap, error)) return false;
      out.ordered.push_back(out.ldap.get());
    }
  }
  return true;
}

}  // namespace mailseal::app
