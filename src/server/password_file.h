// The SMTP AUTH password file: one "user:hash" per line, hashes in crypt(3) form
// ($6$ SHA-512, $5$ SHA-256, $y$ yescrypt; `openssl passwd -6` or `mkpasswd`). Read once at
// start; the plain password is never stored or logged.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mailseal::server {

class PasswordFile {
 public:
  // nullopt + error on an unreadable file or a malformed line (with its number).
  static std::optional<PasswordFile> load(const std::filesystem::path& path, std::string& error);
  bool check(std::string_view user, std::string_view password) const;
  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> users_;
};

}  // namespace mailseal::server
