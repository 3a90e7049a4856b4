// Result<T>: a value or a one-line error a person can read. Key-store operations return
// these instead of throwing, so no exception crosses the module border (DESIGN.md).
// A default-constructed Result is a failure: success has to be stated explicitly.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mailseal::keys {

struct KeyError {
  std::string reason;  // one line, no secret material
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result() : v_(KeyError{"not set"}) {}
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(KeyError error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const std::string& error() const { return std::get<1>(v_).reason; }
  KeyError take_error() const { return std::get<1>(v_); }

 private:
  std::variant<T, KeyError> v_;
};

struct Done {};
using Status = Result<Done>;
inline Status ok_status() {
  return Status(Done{});
}
inline KeyError fail(std::string reason) {
  return KeyError{std::move(reason)};
}

}  // namespace mailseal::keys
