// RAII owners for RNP's C handles (ffi, input, output, key, uid, signature, operations)
// and for strings RNP allocates, plus rnp_error(): one readable line for a failed call.
// Internal to src/openpgp: the public headers never expose an RNP type.
#pragma once

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <memory>
#include <string>
#include <string_view>

#include "openpgp/result.h"

namespace mailseal::openpgp::detail {

template <class T, rnp_result_t (*Destroy)(T)>
struct RnpDeleter {
  void operator()(T handle) const {
    if (handle) Destroy(handle);
  }
};
template <class Handle, rnp_result_t (*Destroy)(Handle)>
using RnpPtr = std::unique_ptr<std::remove_pointer_t<Handle>, RnpDeleter<Handle, Destroy>>;

using FfiPtr = RnpPtr<rnp_ffi_t, rnp_ffi_destroy>;
using InputPtr = RnpPtr<rnp_input_t, rnp_input_destroy>;
using OutputPtr = RnpPtr<rnp_output_t, rnp_output_destroy>;
using KeyPtr = RnpPtr<rnp_key_handle_t, rnp_key_handle_destroy>;
using UidPtr = RnpPtr<rnp_uid_handle_t, rnp_uid_handle_destroy>;
using SignaturePtr = RnpPtr<rnp_signature_handle_t, rnp_signature_handle_destroy>;
using OpEncryptPtr = RnpPtr<rnp_op_encrypt_t, rnp_op_encrypt_destroy>;
using OpSignPtr = RnpPtr<rnp_op_sign_t, rnp_op_sign_destroy>;
using OpVerifyPtr = RnpPtr<rnp_op_verify_t, rnp_op_verify_destroy>;
using OpGeneratePtr = RnpPtr<rnp_op_generate_t, rnp_op_generate_destroy>;
using IteratorPtr = RnpPtr<rnp_identifier_iterator_t, rnp_identifier_iterator_destroy>;

// A string allocated by RNP (rnp_buffer_destroy). Out-parameter via out().
class RnpString {
 public:
  RnpString() = default;
  ~RnpString() { rnp_buffer_destroy(p_); }
  RnpString(const RnpString&) = delete;
  RnpString& operator=(const RnpString&) = delete;
  char** out() {
    rnp_buffer_destroy(p_);
    p_ = nullptr;
    return &p_;
  }
  std::string str() const { return p_ ? std::string(p_) : std::string(); }

 private:
  char* p_ = nullptr;
};

// "rnp_op_encrypt_execute: Bad parameters" (RNP's own text for the code).
inline std::string rnp_error(std::string_view call, rnp_result_t rc) {
  std::string s(call);
  s += ": ";
  s += rnp_result_to_string(rc);
  return s;
}
inline Error rnp_fail(std::string_view call, rnp_result_t rc,
                      ErrorKind kind = ErrorKind::internal) {
  return fail(kind, rnp_error(call, rc));
}

// Returns an internal Error from the enclosing function when an RNP call fails.
#define MAILSEAL_RNP_TRY(call)                                           \
  do {                                                                   \
    rnp_result_t mailseal_rc_ = (call);                                  \
    if (mailseal_rc_ != RNP_SUCCESS)                                     \
      return ::mailseal::openpgp::detail::rnp_fail(#call, mailseal_rc_); \
  } while (0)

// Reads a string property with one of RNP's getters; "" when the call fails.
template <class Handle>
std::string get_string(rnp_result_t (*getter)(Handle, char**), Handle h) {
  RnpString s;
  if (getter(h, s.out()) != RNP_SUCCESS) return {};
  return s.str();
}

// Boolean property; `fallback` when the call fails (callers pass the safe value).
template <class Handle>
bool get_bool(rnp_result_t (*getter)(Handle, bool*), Handle h, bool fallback) {
  bool v = fallback;
  if (getter(h, &v) != RNP_SUCCESS) return fallback;
  return v;
}

}  // namespace mailseal::openpgp::detail
