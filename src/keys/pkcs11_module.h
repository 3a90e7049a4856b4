// The PKCS#11 C API of a token's module, loaded with dlopen: what `keys generate --token`
// needs (find the token by label, log in, generate a key pair that never leaves the token,
// store a certificate object). The daemon's key use goes through libp11 instead
// (pkcs11_key_source.h), which wraps token keys as OpenSSL EVP_PKEYs.
//
// One process should finalize a module only when nothing else uses it: C_Finalize ends
// every session of the process. Pkcs11Module finalizes only if its own C_Initialize did
// the initialising.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keys/result.h"
#include "keys/secret_bytes.h"

// p11-kit's pkcs11.h (the compatible CK_* names): a header only, nothing is linked.
#include <p11-kit/pkcs11.h>

namespace mailseal::keys {

// "CKR_PIN_INCORRECT" and so on for the codes an operator may meet, else hex.
std::string ckr_name(CK_RV rv);

class Pkcs11Module {
 public:
  static Result<std::unique_ptr<Pkcs11Module>> load(const std::filesystem::path& module);
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  CK_FUNCTION_LIST* api() const { return api_; }
  // The slot holding an initialised token with this label. Errors name the labels seen.
  Result<CK_SLOT_ID> find_token(std::string_view label);

 private:
  Pkcs11Module(void* handle, CK_FUNCTION_LIST* api, bool finalize)
      : handle_(handle), api_(api), finalize_(finalize) {}
  void* handle_;
  CK_FUNCTION_LIST* api_;
  bool finalize_;
};

// A read-write session with the user logged in; logs out and closes on destruction.
class Pkcs11Session {
 public:
  static Result<std::unique_ptr<Pkcs11Session>> open(Pkcs11Module& module, CK_SLOT_ID slot,
                                                     const SecretBytes& pin);
  ~Pkcs11Session();
  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;

  CK_FUNCTION_LIST* api() const { return api_; }
  CK_SESSION_HANDLE handle() const { return session_; }
  // Handles of the objects matching the template (all of them; tokens hold few objects).
  Result<std::vector<CK_OBJECT_HANDLE>> find(CK_ATTRIBUTE* attrs, CK_ULONG count);
  // One attribute's value (two calls: length, then value).
  Result<std::string> attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

 private:
  Pkcs11Session(CK_FUNCTION_LIST* api, CK_SESSION_HANDLE s, bool logged_in)
      : api_(api), session_(s), logged_in_(logged_in) {}
  CK_FUNCTION_LIST* api_;
  CK_SESSION_HANDLE session_;
  bool logged_in_;
};

}  // namespace mailseal::keys
