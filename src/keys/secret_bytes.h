// SecretBytes: a byte buffer for key material (master key, DER private keys, passphrases)
// that is wiped with OPENSSL_cleanse when it is destroyed or reassigned, so secrets do not
// linger in freed heap memory. Move-only, so no accidental copies are left behind.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mailseal::keys {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t n) : b_(n) {}
  SecretBytes(const void* data, std::size_t n)
      : b_(static_cast<const std::uint8_t*>(data), static_cast<const std::uint8_t*>(data) + n) {}
  ~SecretBytes() { wipe(); }
  SecretBytes(SecretBytes&& o) noexcept : b_(std::move(o.b_)) { o.b_.clear(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      wipe();
      b_ = std::move(o.b_);
      o.b_.clear();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::uint8_t* data() { return b_.data(); }
  const std::uint8_t* data() const { return b_.data(); }
  std::size_t size() const { return b_.size(); }
  bool empty() const { return b_.empty(); }
  // Shrinks without reallocating (the tail is wiped first).
  void truncate(std::size_t n) {
    if (n < b_.size()) {
      OPENSSL_cleanse(b_.data() + n, b_.size() - n);
      b_.resize(n);
    }
  }
  std::string_view view() const { return {reinterpret_cast<const char*>(b_.data()), b_.size()}; }

 private:
  void wipe() {
    if (!b_.empty()) OPENSSL_cleanse(b_.data(), b_.size());
    b_.clear();
  }
  std::vector<std::uint8_t> b_;
};

}  // namespace mailseal::keys
