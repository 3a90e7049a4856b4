// Describes keys (KeyInfo from RNP handles), locates and enumerates them, and holds the
// one validity test for using a key now. Unknown or failing properties read as the safe
// value: not valid, revoked/expired true, not capable.
#include <set>

#include "openpgp/key_handles.h"
#include "openpgp/user_id.h"

namespace mailseal::openpgp {

std::vector<std::string> KeyInfo::emails() const {
  std::vector<std::string> out;
  for (const auto& u : user_ids)
    if (u.valid && !u.revoked && !u.email.empty()) out.push_back(u.email);
  return out;
}

namespace detail {

KeyPtr locate_key(rnp_ffi_t ffi, std::string_view fingerprint) {
  std::string id(fingerprint);
  const char* type = id.size() == 16 ? "keyid" : "fingerprint";
  rnp_key_handle_t h = nullptr;
  if (id.empty() || rnp_locate_key(ffi, type, id.c_str(), &h) != RNP_SUCCESS) return nullptr;
  return KeyPtr(h);
}

std::vector<std::string> primary_fingerprints(rnp_ffi_t ffi) {
  std::vector<std::string> out;
  rnp_identifier_iterator_t raw = nullptr;
  if (rnp_identifier_iterator_create(ffi, &raw, "fingerprint") != RNP_SUCCESS) return out;
  IteratorPtr it(raw);
  std::set<std::string> seen;
  const char* id = nullptr;
  while (rnp_identifier_iterator_next(it.get(), &id) == RNP_SUCCESS && id) {
    if (!seen.insert(id).second) continue;
    auto key = locate_key(ffi, id);
    if (key && get_bool(rnp_key_is_primary, key.get(), false)) out.emplace_back(id);
  }
  return out;
}

SubkeyInfo describe_subkey(rnp_key_handle_t key) {
  SubkeyInfo s;
  s.fingerprint = get_string(rnp_key_get_fprint, key);
  s.algorithm = get_string(rnp_key_get_alg, key);
  if (s.algorithm == "ECDH" || s.algorithm == "ECDSA" || s.algorithm == "EDDSA" ||
      s.algorithm == "SM2")
    s.curve = get_string(rnp_key_get_curve, key);
  rnp_key_get_bits(key, &s.bits);
  uint32_t created = 0, expiry = 0;
  if (rnp_key_get_creation(key, &created) == RNP_SUCCESS)
    s.created = Seconds(std::chrono::seconds(created));
  if (rnp_key_get_expiration(key, &expiry) == RNP_SUCCESS && expiry != 0)
    s.expires = s.created + std::chrono::seconds(expiry);
  bool v = false;
  s.can_sign = rnp_key_allows_usage(key, "sign", &v) == RNP_SUCCESS && v;
  v = false;
  s.can_encrypt = rnp_key_allows_usage(key, "encrypt", &v) == RNP_SUCCESS && v;
  s.revoked = get_bool(rnp_key_is_revoked, key, true);
  s.expired = get_bool(rnp_key_is_expired, key, true);
  s.valid = get_bool(rnp_key_is_valid, key, false);
  s.has_secret = get_bool(rnp_key_have_secret, key, false);
  return s;
}

namespace {

std::vector<UserIdInfo> describe_user_ids(rnp_key_handle_t primary) {
  std::vector<UserIdInfo> out;
  size_t n = 0;
  if (rnp_key_get_uid_count(primary, &n) != RNP_SUCCESS) return out;
  for (size_t i = 0; i < n; ++i) {
    rnp_uid_handle_t raw = nullptr;
    if (rnp_key_get_uid_handle_at(primary, i, &raw) != RNP_SUCCESS) continue;
    UidPtr uid(raw);
    uint32_t type = 0;
    if (rnp_uid_get_type(uid.get(), &type) != RNP_SUCCESS || type != RNP_USER_ID) continue;
    void* data = nullptr;
    size_t size = 0;
    if (rnp_uid_get_data(uid.get(), &data, &size) != RNP_SUCCESS) continue;
    UserIdInfo u;
    u.text.assign(static_cast<const char*>(data), size);
    rnp_buffer_destroy(data);
    u.email = email_from_user_id(u.text);
    u.revoked = get_bool(rnp_uid_is_revoked, uid.get(), true);
    u.valid = get_bool(rnp_uid_is_valid, uid.get(), false) && !u.revoked;
    u.primary = get_bool(rnp_uid_is_primary, uid.get(), false);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace

Result<KeyInfo> describe_key(rnp_key_handle_t primary) {
  KeyInfo info;
  info.primary = describe_subkey(primary);
  if (info.primary.fingerprint.empty())
    return fail(ErrorKind::internal, "cannot read the key fingerprint");
  info.user_ids = describe_user_ids(primary);
  size_t n = 0;
  if (rnp_key_get_subkey_count(primary, &n) != RNP_SUCCESS)
    return fail(ErrorKind::internal, "cannot count subkeys");
  for (size_t i = 0; i < n; ++i) {
    rnp_key_handle_t raw = nullptr;
    if (rnp_key_get_subkey_at(primary, i, &raw) != RNP_SUCCESS) continue;
    KeyPtr sub(raw);
    info.subkeys.push_back(describe_subkey(sub.get()));
  }
  return info;
}

KeyPtr primary_of(rnp_ffi_t ffi, rnp_key_handle_t key) {
  if (get_bool(rnp_key_is_primary, key, false)) {
    auto fpr = get_string(rnp_key_get_fprint, key);
    return locate_key(ffi, fpr);
  }
  return locate_key(ffi, get_string(rnp_key_get_primary_fprint, key));
}

bool key_usable(rnp_key_handle_t key, Usage usage) {
  SubkeyInfo s = describe_subkey(key);
  if (!s.valid || s.revoked || s.expired) return false;
  if (usage == Usage::encrypt) return s.can_encrypt;
  return s.can_sign && s.has_secret;
}

}  // namespace detail
}  // namespace mailseal::openpgp
