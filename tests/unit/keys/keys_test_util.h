// Shared helpers for the key-store tests: a private temporary directory and quick
// certificates made with cert_builder (EC P-256: fast to generate).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "keys/cert_builder.h"

namespace mailseal::keys::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailseal-keys-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15, fixed test clock

struct Identity {
  crypto::PKeyPtr key;
  crypto::X509Ptr cert;
};

// A self-signed S/MIME certificate valid from `start` for `days`.
inline Identity make_identity(const std::string& address, std::int64_t start = kNow,
                              int days = 365) {
  Identity id;
  id.key = generate_key(KeyAlgorithm::p256).value();
  id.cert =
      make_user_certificate(id.key.get(), address, nullptr, nullptr, Validity{start, days}).value();
  return id;
}

}  // namespace mailseal::keys::testing
