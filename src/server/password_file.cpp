// PasswordFile: load and check with crypt_r.
#include "server/password_file.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <fstream>

namespace mailseal::server {

std::optional<PasswordFile> PasswordFile::load(const std::filesystem::path& path,
                                               std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path.string() + ": cannot open";
    return std::nullopt;
  }
  PasswordFile f;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string::npos || line.size() <= colon + 1 ||
        line[colon + 1] != '$') {
      error = path.string() + ":" + std::to_string(number) + ": expected user:$id$salt$hash";
      return std::nullopt;
    }
    f.users_[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return f;
}

bool PasswordFile::check(std::string_view user, std::string_view password) const {
  auto it = users_.find(user);
  // Unknown users still pay for one hash, so timing does not tell which users exist.
  const std::string& hash = it != users_.end() ? it->second
                            : users_.empty()   ? std::string("$6$x$")
                                               : users_.begin()->second;
  struct crypt_data data {};
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), &data);
  OPENSSL_cleanse(pw.data(), pw.size());
  if (!out || it == users_.end()) return false;
  std::string_view computed(out);
  return computed.size() == hash.size() &&
         CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

}  // namespace mailseal::server
