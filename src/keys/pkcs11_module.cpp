// Loading a PKCS#11 module with dlopen and the few C API calls `keys generate --token`
// makes. Every CK_RV that is not CKR_OK becomes a one-line error naming the call.
#include "keys/pkcs11_module.h"

#include <dlfcn.h>

#include <cstdio>

#include "keys/pkcs11_settings.h"

namespace mailseal::keys {

std::string ckr_name(CK_RV rv) {
  switch (rv) {
    case CKR_OK:
      return "CKR_OK";
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_PIN_EXPIRED:
      return "CKR_PIN_EXPIRED";
    case CKR_USER_PIN_NOT_INITIALIZED:
      return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED:
      return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_TOKEN_WRITE_PROTECTED:
      return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY:
      return "CKR_DEVICE_MEMORY";
    case CKR_SESSION_CLOSED:
      return "CKR_SESSION_CLOSED";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_TEMPLATE_INCONSISTENT:
      return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_ATTRIBUTE_VALUE_INVALID:
      return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DOMAIN_PARAMS_INVALID:
      return "CKR_DOMAIN_PARAMS_INVALID";
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED:
      return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD:
      return "CKR_ARGUMENTS_BAD";
    default:
      break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR 0x%08lx", static_cast<unsigned long>(rv));
  return buf;
}

Result<std::unique_ptr<Pkcs11Module>> Pkcs11Module::load(const std::filesystem::path& module) {
  if (module.empty()) return fail("no PKCS#11 module configured (keys.pkcs11.module)");
  void* h = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = ::dlerror();
    return fail("cannot load PKCS#11 module " + module.string() + ": " + (why ? why : "?"));
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(h, "C_GetFunctionList"));
  CK_FUNCTION_LIST* api = nullptr;
  if (!get || get(&api) != CKR_OK || !api) {
    ::dlclose(h);
    return fail(module.string() + " is not a PKCS#11 module (no C_GetFunctionList)");
  }
  // OS locking: the module may be used from several threads (libp11 does so too).
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = api->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(h);
    return fail("C_Initialize of " + module.string() + ": " + ckr_name(rv));
  }
  return std::unique_ptr<Pkcs11Module>(new Pkcs11Module(h, api, rv == CKR_OK));
}

Pkcs11Module::~Pkcs11Module() {
  if (finalize_) api_->C_Finalize(nullptr);
  ::dlclose(handle_);
}

Result<CK_SLOT_ID> Pkcs11Module::find_token(std::string_view label) {
  CK_ULONG n = 0;
  CK_RV rv = api_->C_GetSlotList(CK_TRUE, nullptr, &n);
  if (rv != CKR_OK) return fail("C_GetSlotList: " + ckr_name(rv));
  std::vector<CK_SLOT_ID> slots(n);
  rv = api_->C_GetSlotList(CK_TRUE, slots.data(), &n);
  if (rv != CKR_OK) return fail("C_GetSlotList: " + ckr_name(rv));
  slots.resize(n);
  std::string seen;
  for (CK_SLOT_ID s : slots) {
    CK_TOKEN_INFO info{};
    if (api_->C_GetTokenInfo(s, &info) != CKR_OK) continue;
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    std::string l = trim_label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    if (l == label) return s;
    seen += (seen.empty() ? "" : ", ") + ("\"" + l + "\"");
  }
  return fail("no token labelled \"" + std::string(label) +
              "\" (present: " + (seen.empty() ? "none" : seen) + ")");
}

Result<std::unique_ptr<Pkcs11Session>> Pkcs11Session::open(Pkcs11Module& module, CK_SLOT_ID slot,
                                                           const SecretBytes& pin) {
  CK_FUNCTION_LIST* api = module.api();
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_RV rv = api->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) return fail("C_OpenSession: " + ckr_name(rv));
  // The PKCS#11 prototype takes a non-const pointer; the module does not write to it.
  rv = api->C_Login(s, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()),
                    static_cast<CK_ULONG>(pin.size()));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    api->C_CloseSession(s);
    return fail("login to the token: " + ckr_name(rv));
  }
  return std::unique_ptr<Pkcs11Session>(new Pkcs11Session(api, s, rv == CKR_OK));
}

Pkcs11Session::~Pkcs11Session() {
  if (logged_in_) api_->C_Logout(session_);
  api_->C_CloseSession(session_);
}

Result<std::vector<CK_OBJECT_HANDLE>> Pkcs11Session::find(CK_ATTRIBUTE* attrs, CK_ULONG count) {
  CK_RV rv = api_->C_FindObjectsInit(session_, attrs, count);
  if (rv != CKR_OK) return fail("C_FindObjectsInit: " + ckr_name(rv));
  std::vector<CK_OBJECT_HANDLE> out;
  for (;;) {
    CK_OBJECT_HANDLE batch[32];
    CK_ULONG got = 0;
    rv = api_->C_FindObjects(session_, batch, 32, &got);
    if (rv != CKR_OK || got == 0) break;
    out.insert(out.end(), batch, batch + got);
  }
  api_->C_FindObjectsFinal(session_);
  if (rv != CKR_OK) return fail("C_FindObjects: " + ckr_name(rv));
  return out;
}

Result<std::string> Pkcs11Session::attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  CK_RV rv = api_->C_GetAttributeValue(session_, object, &a, 1);
  if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
    return fail("C_GetAttributeValue: " + ckr_name(rv));
  std::string value(a.ulValueLen, '\0');
  a.pValue = value.data();
  rv = api_->C_GetAttributeValue(session_, object, &a, 1);
  if (rv != CKR_OK) return fail("C_GetAttributeValue: " + ckr_name(rv));
  value.resize(a.ulValueLen);
  return value;
}

}  // namespace mailseal::keys
