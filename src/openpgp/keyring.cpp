// Keyring lifetime, import (staged in a scratch context so it is all-or-nothing and
// protected secret keys are unlocked before they enter), export and removal.
// Secret bytes that pass through memory buffers are cleared with rnp_buffer_clear.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "openpgp/key_handles.h"
#include "openpgp/stream_adapter.h"

namespace mailseal::openpgp {

using namespace detail;

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::internal:
      return "internal";
    case ErrorKind::bad_input:
      return "bad_input";
    case ErrorKind::malformed:
      return "malformed";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::unusable_key:
      return "unusable_key";
    case ErrorKind::wrong_passphrase:
      return "wrong_passphrase";
    case ErrorKind::io:
      return "io";
  }
  return "internal";
}

void SecretString::wipe() {
  if (!s_.empty()) rnp_buffer_clear(s_.data(), s_.size());
  s_.clear();
}

namespace {

// RNP must never prompt (there is no terminal): every password request is refused.
bool no_password(rnp_ffi_t, void*, rnp_key_handle_t, const char*, char*, size_t) {
  return false;
}

Result<FfiPtr> new_ffi() {
  rnp_ffi_t raw = nullptr;
  rnp_result_t rc = rnp_ffi_create(&raw, RNP_KEYSTORE_GPG, RNP_KEYSTORE_GPG);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_ffi_create", rc);
  FfiPtr ffi(raw);
  // RNP's per-context diagnostics go nowhere: the daemon's stderr is its log, and RNP's
  // lines there (e.g. about signature times) are neither structured nor needed; the
  // facts reach our log through typed results. RNP closes the descriptor it is given.
  if (int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC); fd >= 0) {
    if (rnp_ffi_set_log_fd(ffi.get(), fd) != RNP_SUCCESS) ::close(fd);
  }
  rc = rnp_ffi_set_pass_provider(ffi.get(), no_password, nullptr);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_ffi_set_pass_provider", rc);
  return ffi;
}

// Exports one key into memory; the RNP buffer is cleared after copying out.
Result<SecretString> export_to_memory(rnp_key_handle_t key, uint32_t flags) {
  rnp_output_t raw = nullptr;
  rnp_result_t rc = rnp_output_to_memory(&raw, 0);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_output_to_memory", rc);
  OutputPtr out(raw);
  rc = rnp_key_export(key, out.get(), flags);
  uint8_t* buf = nullptr;
  size_t len = 0;
  rnp_result_t rc2 = rnp_output_memory_get_buf(out.get(), &buf, &len, false);
  SecretString s;
  if (rc == RNP_SUCCESS && rc2 == RNP_SUCCESS && len > 0)
    std::memcpy(s.resize_for_write(len), buf, len);
  if (buf) rnp_buffer_clear(buf, len);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_key_export", rc);
  if (rc2 != RNP_SUCCESS) return rnp_fail("rnp_output_memory_get_buf", rc2);
  return s;
}

Status import_into(rnp_ffi_t ffi, std::string_view bytes) {
  rnp_input_t raw = nullptr;
  rnp_result_t rc = rnp_input_from_memory(&raw, reinterpret_cast<const uint8_t*>(bytes.data()),
                                          bytes.size(), false);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_input_from_memory", rc);
  InputPtr in(raw);
  RnpString results;
  rc = rnp_import_keys(ffi, in.get(), RNP_LOAD_SAVE_PUBLIC_KEYS | RNP_LOAD_SAVE_SECRET_KEYS,
                       results.out());
  if (rc == RNP_ERROR_BAD_FORMAT || rc == RNP_ERROR_NOT_ENOUGH_DATA || rc == RNP_ERROR_EOF)
    return rnp_fail("rnp_import_keys", rc, ErrorKind::malformed);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_import_keys", rc);
  return success();
}

// Unlocks every protected secret (sub)key of `primary` in place.
Status unprotect_all(rnp_ffi_t ffi, rnp_key_handle_t primary, std::string_view passphrase) {
  std::vector<KeyPtr> keys;
  keys.push_back(locate_key(ffi, get_string(rnp_key_get_fprint, primary)));
  size_t n = 0;
  if (rnp_key_get_subkey_count(primary, &n) != RNP_SUCCESS)
    return fail(ErrorKind::internal, "cannot count subkeys");
  for (size_t i = 0; i < n; ++i) {
    rnp_key_handle_t raw = nullptr;
    if (rnp_key_get_subkey_at(primary, i, &raw) == RNP_SUCCESS) keys.emplace_back(raw);
  }
  SecretString pass(passphrase);
  for (auto& key : keys) {
    if (!key || !get_bool(rnp_key_have_secret, key.get(), false)) continue;
    if (!get_bool(rnp_key_is_protected, key.get(), true)) continue;
    auto fpr = get_string(rnp_key_get_fprint, key.get());
    if (pass.empty())
      return fail(ErrorKind::wrong_passphrase,
                  "secret key " + fpr + " is protected: passphrase needed");
    rnp_result_t rc = rnp_key_unprotect(key.get(), pass.c_str());
    if (rc == RNP_ERROR_BAD_PASSWORD)
      return fail(ErrorKind::wrong_passphrase, "wrong passphrase for secret key " + fpr);
    if (rc != RNP_SUCCESS) return rnp_fail("rnp_key_unprotect " + fpr, rc);
  }
  return success();
}

Status protect_all(rnp_ffi_t ffi, rnp_key_handle_t primary, const SecretString& pass) {
  std::vector<KeyPtr> keys;
  keys.push_back(locate_key(ffi, get_string(rnp_key_get_fprint, primary)));
  size_t n = 0;
  if (rnp_key_get_subkey_count(primary, &n) != RNP_SUCCESS)
    return fail(ErrorKind::internal, "cannot count subkeys");
  for (size_t i = 0; i < n; ++i) {
    rnp_key_handle_t raw = nullptr;
    if (rnp_key_get_subkey_at(primary, i, &raw) == RNP_SUCCESS) keys.emplace_back(raw);
  }
  for (auto& key : keys) {
    if (!key || !get_bool(rnp_key_have_secret, key.get(), false)) continue;
    rnp_result_t rc = rnp_key_protect(key.get(), pass.c_str(), "AES256", nullptr, "SHA256", 0);
    if (rc != RNP_SUCCESS) return rnp_fail("rnp_key_protect", rc);
  }
  return success();
}

}  // namespace

Keyring::Keyring(Keyring&&) noexcept = default;
Keyring& Keyring::operator=(Keyring&&) noexcept = default;
Keyring::~Keyring() = default;

Result<Keyring> Keyring::create() {
  auto ffi = new_ffi();
  if (!ffi) return ffi.error();
  Keyring k;
  k.state_ = std::make_unique<KeyringState>();
  k.state_->ffi = std::move(ffi.value());
  return k;
}

rnp_ffi_st* Keyring::ffi() const {
  return state_ ? state_->ffi.get() : nullptr;
}

void Keyring::set_time(std::optional<Seconds> t) {
  if (!state_) return;
  state_->time = t;
  uint64_t v = t ? static_cast<uint64_t>(t->time_since_epoch().count()) : 0;
  (void)rnp_set_timestamp(ffi(), v);  // fails only for a null ffi
}

std::optional<Seconds> Keyring::time() const {
  return state_ ? state_->time : std::nullopt;
}

Result<std::vector<KeyInfo>> Keyring::import_keys(Source data, std::string_view passphrase) {
  if (!state_) return fail(ErrorKind::bad_input, "keyring moved from");
  auto staging = new_ffi();
  if (!staging) return staging.error();
  rnp_ffi_t scratch = staging->get();
  {
    auto in = InputAdapter::open(data);
    if (!in) return in.error();
    RnpString results;
    rnp_result_t rc =
        rnp_import_keys(scratch, in.value()->get(),
                        RNP_LOAD_SAVE_PUBLIC_KEYS | RNP_LOAD_SAVE_SECRET_KEYS, results.out());
    if (in.value()->read_failed()) return fail(ErrorKind::io, "reading the key data failed");
    if (rc != RNP_SUCCESS)
      return rnp_fail("import", rc,
                      rc == RNP_ERROR_GENERIC ? ErrorKind::internal : ErrorKind::malformed);
  }
  auto primaries = primary_fingerprints(scratch);
  if (primaries.empty()) return fail(ErrorKind::malformed, "no OpenPGP key in the input");

  // Unlock and stage everything before touching this keyring.
  std::vector<SecretString> blobs;
  for (const auto& fpr : primaries) {
    auto key = locate_key(scratch, fpr);
    if (!key) return fail(ErrorKind::internal, "imported key vanished: " + fpr);
    bool secret = get_bool(rnp_key_have_secret, key.get(), false);
    if (secret) {
      auto st = unprotect_all(scratch, key.get(), passphrase);
      if (!st) return st.error();
    }
    uint32_t flags =
        RNP_KEY_EXPORT_SUBKEYS | (secret ? RNP_KEY_EXPORT_SECRET : RNP_KEY_EXPORT_PUBLIC);
    auto blob = export_to_memory(key.get(), flags);
    if (!blob) return blob.error();
    blobs.push_back(std::move(blob.value()));
  }
  for (const auto& blob : blobs) {
    auto st = import_into(ffi(), blob.view());
    if (!st) return st.error();
  }
  std::vector<KeyInfo> out;
  for (const auto& fpr : primaries) {
    auto info = this->info(fpr);
    if (!info) return info.error();
    out.push_back(std::move(info.value()));
  }
  return out;
}

Status Keyring::add_stored_key(std::string_view data, std::string_view fingerprint) {
  if (!state_) return fail(ErrorKind::bad_input, "keyring moved from");
  rnp_input_t raw = nullptr;
  rnp_result_t rc = rnp_input_from_memory(&raw, reinterpret_cast<const uint8_t*>(data.data()),
                                          data.size(), false);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_input_from_memory", rc);
  InputPtr in(raw);
  RnpString results;
  rc = rnp_import_keys(ffi(), in.get(), RNP_LOAD_SAVE_PUBLIC_KEYS | RNP_LOAD_SAVE_SECRET_KEYS,
                       results.out());
  if (rc != RNP_SUCCESS)
    return rnp_fail("rnp_import_keys", rc,
                    rc == RNP_ERROR_GENERIC ? ErrorKind::internal : ErrorKind::malformed);
  // A protected secret part could not be used without a prompt: drop it (the public
  // part stays), as a store never hands out protected keys.
  auto key = locate_key(ffi(), fingerprint);
  if (!key)
    return fail(ErrorKind::malformed, "the key data does not hold " + std::string(fingerprint));
  auto locked = [](rnp_key_handle_t k) {
    return get_bool(rnp_key_have_secret, k, false) && get_bool(rnp_key_is_protected, k, true);
  };
  bool is_protected = locked(key.get());
  size_t n = 0;
  if (rnp_key_get_subkey_count(key.get(), &n) != RNP_SUCCESS) is_protected = true;
  for (size_t i = 0; i < n && !is_protected; ++i) {
    rnp_key_handle_t sub_raw = nullptr;
    if (rnp_key_get_subkey_at(key.get(), i, &sub_raw) != RNP_SUCCESS) continue;
    KeyPtr sub(sub_raw);
    is_protected = locked(sub.get());
  }
  if (is_protected) (void)rnp_key_remove(key.get(), RNP_KEY_REMOVE_SECRET | RNP_KEY_REMOVE_SUBKEYS);
  return success();
}

void Keyring::drop(std::string_view fingerprint) {
  auto key = locate_key(ffi(), fingerprint);
  if (key)
    (void)rnp_key_remove(key.get(),
                         RNP_KEY_REMOVE_PUBLIC | RNP_KEY_REMOVE_SECRET | RNP_KEY_REMOVE_SUBKEYS);
}

std::optional<Seconds> Keyring::earliest_expiry(std::string_view fingerprint) const {
  auto info = this->info(fingerprint);
  if (!info) return std::nullopt;
  std::optional<Seconds> out = info->primary.expires;
  for (const auto& sub : info->subkeys)
    if (sub.expires && (!out || *sub.expires < *out)) out = sub.expires;
  return out;
}

std::string Keyring::primary_fingerprint_of(std::string_view id) const {
  auto key = locate_key(ffi(), id);
  if (!key) return {};
  auto primary = detail::primary_of(ffi(), key.get());
  return primary ? get_string(rnp_key_get_fprint, primary.get()) : std::string();
}

Result<KeyInfo> Keyring::info(std::string_view fingerprint) const {
  auto key = locate_key(ffi(), fingerprint);
  if (!key) return fail(ErrorKind::not_found, "no key " + std::string(fingerprint));
  auto primary = primary_of(ffi(), key.get());
  if (!primary) return fail(ErrorKind::internal, "no primary key for " + std::string(fingerprint));
  return describe_key(primary.get());
}

std::vector<KeyInfo> Keyring::list() const {
  std::vector<KeyInfo> out;
  for (const auto& fpr : primary_fingerprints(ffi())) {
    auto info = this->info(fpr);
    if (info) out.push_back(std::move(info.value()));
  }
  return out;
}

Status Keyring::remove(std::string_view fingerprint) {
  auto key = locate_key(ffi(), fingerprint);
  if (!key) return fail(ErrorKind::not_found, "no key " + std::string(fingerprint));
  rnp_result_t rc = rnp_key_remove(
      key.get(), RNP_KEY_REMOVE_PUBLIC | RNP_KEY_REMOVE_SECRET | RNP_KEY_REMOVE_SUBKEYS);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_key_remove", rc);
  return success();
}

Result<std::string> Keyring::export_public(std::string_view fingerprint, bool armored) const {
  auto key = locate_key(ffi(), fingerprint);
  if (!key) return fail(ErrorKind::not_found, "no key " + std::string(fingerprint));
  auto primary = primary_of(ffi(), key.get());
  if (!primary) return fail(ErrorKind::internal, "no primary key");
  uint32_t flags = RNP_KEY_EXPORT_PUBLIC | RNP_KEY_EXPORT_SUBKEYS;
  if (armored) flags |= RNP_KEY_EXPORT_ARMORED;
  auto blob = export_to_memory(primary.get(), flags);
  if (!blob) return blob.error();
  return std::string(blob->view());
}

Result<SecretString> Keyring::export_secret(std::string_view fingerprint, bool armored,
                                            std::string_view passphrase) const {
  auto key = locate_key(ffi(), fingerprint);
  if (!key) return fail(ErrorKind::not_found, "no key " + std::string(fingerprint));
  auto primary = primary_of(ffi(), key.get());
  if (!primary || !get_bool(rnp_key_have_secret, primary.get(), false))
    return fail(ErrorKind::not_found, "no secret key " + std::string(fingerprint));
  uint32_t flags = RNP_KEY_EXPORT_SECRET | RNP_KEY_EXPORT_SUBKEYS;
  if (passphrase.empty()) {
    if (armored) flags |= RNP_KEY_EXPORT_ARMORED;
    return export_to_memory(primary.get(), flags);
  }
  // Protect a copy in a scratch context; the keys in this keyring stay as they are.
  auto plain = export_to_memory(primary.get(), flags);
  if (!plain) return plain.error();
  auto staging = new_ffi();
  if (!staging) return staging.error();
  auto st = import_into(staging->get(), plain->view());
  if (!st) return st.error();
  auto copy = locate_key(staging->get(), get_string(rnp_key_get_fprint, primary.get()));
  if (!copy) return fail(ErrorKind::internal, "staged key vanished");
  SecretString pass(passphrase);
  st = protect_all(staging->get(), copy.get(), pass);
  if (!st) return st.error();
  if (armored) flags |= RNP_KEY_EXPORT_ARMORED;
  return export_to_memory(copy.get(), flags);
}

}  // namespace mailseal::openpgp
