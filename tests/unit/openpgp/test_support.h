// Shared helpers for the OpenPGP unit tests: a scratch directory (with a private
// GNUPGHOME for gpg and a home for sq), running the real tools via std::system, files.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/message_body.h"

namespace mailseal::openpgp::testing {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline bool have_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// A temporary directory with gnupg/ (mode 700) and sq/ homes; removed at the end.
class Scratch {
 public:
  Scratch() {
    auto base = std::filesystem::temp_directory_path();
    std::string templ = (base / "mailseal-pgp-XXXXXX").string();
    dir_ = ::mkdtemp(templ.data());
    std::filesystem::create_directories(dir_ / "gnupg");
    std::filesystem::permissions(dir_ / "gnupg", std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace);
    std::filesystem::create_directories(dir_ / "sq");
  }
  ~Scratch() {
    // gpg-agent lives per GNUPGHOME: stop it, then remove everything.
    std::system(
        ("gpgconf --homedir '" + (dir_ / "gnupg").string() + "' --kill gpg-agent >/dev/null 2>&1")
            .c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path path(const std::string& name) const { return dir_ / name; }

  // Runs `args` with gpg in batch mode on this GNUPGHOME; returns the exit status.
  int gpg(const std::string& args) const {
    std::string cmd = "gpg --homedir '" + (dir_ / "gnupg").string() +
                      "' --batch --yes --no-tty --pinentry-mode loopback " + args + " >>'" +
                      (dir_ / "tool.log").string() + "' 2>&1";
    return run(cmd);
  }
  // Same, with stdout to `out` (a file name in the scratch directory).
  int gpg_to(const std::string& args, const std::string& out) const {
    std::string cmd = "gpg --homedir '" + (dir_ / "gnupg").string() +
                      "' --batch --yes --no-tty --pinentry-mode loopback " + args + " >'" +
                      path(out).string() + "' 2>>'" + (dir_ / "tool.log").string() + "'";
    return run(cmd);
  }
  // The fingerprint of the first key gpg lists for `address`.
  std::string gpg_fingerprint(const std::string& address) const {
    if (gpg_to("--with-colons --list-keys '<" + address + ">'", "colons.txt") != 0) return {};
    std::istringstream in(read_file(path("colons.txt")));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("fpr:", 0) == 0) {  // field 10 holds the fingerprint
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 10 && std::getline(fields, field, ':'); ++i) {
        }
        return field;
      }
    return {};
  }
  int sq(const std::string& args) const {
    std::string cmd = "HOME='" + (dir_ / "sq").string() + "' sq " + args + " >>'" +
                      (dir_ / "tool.log").string() + "' 2>&1";
    return run(cmd);
  }
  std::string log() const { return read_file(dir_ / "tool.log"); }
  std::string q(const std::string& name) const { return "'" + path(name).string() + "'"; }

  core::MessageBody body(std::size_t memory_limit = core::MessageBody::kDefaultMemoryLimit) const {
    return core::MessageBody(dir_, memory_limit);
  }

 private:
  static int run(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::filesystem::path dir_;
};

// A canonical (CRLF) MIME entity, as the gateway hands it to seal().
inline std::string sample_mime(
    std::string_view text = "Hello Bob,\r\nthe numbers are 4 8 15.\r\n") {
  std::string s =
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 7bit\r\n\r\n";
  s += text;
  return s;
}

}  // namespace mailseal::openpgp::testing
