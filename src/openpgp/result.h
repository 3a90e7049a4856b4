// Typed results of the OpenPGP layer: Error (kind + one readable line), Result<T> that
// starts as failure and becomes success only when a value is stored, and SecretString,
// a move-only byte string wiped on destruction (exported secret keys, passphrases).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mailseal::openpgp {

enum class ErrorKind {
  internal,          // an RNP call failed unexpectedly (also the initial state)
  bad_input,         // caller error: unknown fingerprint, empty recipient list, ...
  malformed,         // input is not well-formed OpenPGP data
  not_found,         // no key for the address / fingerprint
  unusable_key,      // key exists but is expired, revoked or lacks the needed capability
  wrong_passphrase,  // protected secret key could not be unlocked
  io,                // reading the source or writing the sink failed
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string reason = "not run";  // one line, never secret material
};

std::string_view error_kind_name(ErrorKind kind);

template <class T>
class [[nodiscard]] Result {
 public:
  Result() : v_(Error{}) {}
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Done {};
using Status = Result<Done>;
inline Status success() {
  return Status(Done{});
}
inline Error fail(ErrorKind kind, std::string reason) {
  return Error{kind, std::move(reason)};
}

// Bytes that must not linger in freed memory. Move-only; wiped when destroyed.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view s) : s_(s) {}
  ~SecretString() { wipe(); }
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { o.wipe(); }
  SecretString& operator=(SecretString&& o) noexcept {
    if (this != &o) {
      wipe();
      s_ = std::move(o.s_);
      o.wipe();
    }
    return *this;
  }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  std::string_view view() const { return s_; }
  const char* c_str() const { return s_.c_str(); }
  std::size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }
  // Sizes the buffer once (no reallocation leaves copies behind), for filling in place.
  char* resize_for_write(std::size_t n) {
    wipe();
    s_.resize(n);
    return s_.data();
  }

 private:
  void wipe();
  std::string s_;
};

}  // namespace mailseal::openpgp
