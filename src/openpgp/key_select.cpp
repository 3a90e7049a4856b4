// Which key may be used for an address or fingerprint right now (issue 4 "Keys"): a valid
// user ID must carry the address, and the primary and the chosen (sub)key must be valid,
// not expired, not revoked and capable. The newest usable (sub)key wins.
#include "openpgp/key_handles.h"
#include "openpgp/user_id.h"

#include <algorithm>
#include <cctype>

namespace mailseal::openpgp {

using namespace detail;

namespace {

std::string_view usage_name(Usage usage) {
  return usage == Usage::sign ? "signing" : "encryption";
}

// The usable (sub)key of `primary` for `usage` (the newest), or why there is none.
Result<KeyChoice> choose_subkey(rnp_key_handle_t primary, Usage usage) {
  SubkeyInfo p = describe_subkey(primary);
  if (p.revoked) return fail(ErrorKind::unusable_key, "key " + p.fingerprint + " is revoked");
  if (p.expired) return fail(ErrorKind::unusable_key, "key " + p.fingerprint + " has expired");
  if (!p.valid) return fail(ErrorKind::unusable_key, "key " + p.fingerprint + " is not valid");
  KeyChoice best;
  Seconds best_created{};
  if (key_usable(primary, usage)) {
    best = {p.fingerprint, p.fingerprint};
    best_created = p.created;
  }
  size_t n = 0;
  if (rnp_key_get_subkey_count(primary, &n) != RNP_SUCCESS)
    return fail(ErrorKind::internal, "cannot count subkeys");
  for (size_t i = 0; i < n; ++i) {
    rnp_key_handle_t raw = nullptr;
    if (rnp_key_get_subkey_at(primary, i, &raw) != RNP_SUCCESS) continue;
    KeyPtr sub(raw);
    if (!key_usable(sub.get(), usage)) continue;
    SubkeyInfo s = describe_subkey(sub.get());
    if (best.key_fingerprint.empty() || s.created > best_created) {
      best = {p.fingerprint, s.fingerprint};
      best_created = s.created;
    }
  }
  if (best.key_fingerprint.empty())
    return fail(ErrorKind::unusable_key, "key " + p.fingerprint + " has no valid " +
                                             std::string(usage_name(usage)) + " key" +
                                             (usage == Usage::sign ? " with its secret part" : ""));
  return best;
}

bool carries_address(rnp_key_handle_t primary, std::string_view address) {
  auto info = describe_key(primary);
  if (!info) return false;
  for (const auto& u : info->user_ids)
    if (u.valid && !u.revoked && same_address(u.email, address)) return true;
  return false;
}

}  // namespace

Result<KeyChoice> Keyring::usable_key(std::string_view fingerprint, Usage usage) const {
  auto key = locate_key(ffi(), fingerprint);
  if (!key) return fail(ErrorKind::not_found, "no key " + std::string(fingerprint));
  auto primary = primary_of(ffi(), key.get());
  if (!primary) return fail(ErrorKind::internal, "no primary key for " + std::string(fingerprint));
  if (get_bool(rnp_key_is_primary, key.get(), false)) return choose_subkey(primary.get(), usage);
  // A specific subkey was named: it must itself be usable, and its primary valid.
  SubkeyInfo p = describe_subkey(primary.get());
  if (p.revoked || p.expired || !p.valid)
    return fail(ErrorKind::unusable_key, "primary key " + p.fingerprint + " is not usable");
  if (!key_usable(key.get(), usage))
    return fail(ErrorKind::unusable_key, "subkey " + std::string(fingerprint) +
                                             " is not usable for " +
                                             std::string(usage_name(usage)));
  return KeyChoice{p.fingerprint, get_string(rnp_key_get_fprint, key.get())};
}

namespace {

bool same_hex(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

Result<KeyChoice> Keyring::key_for_address(std::string_view address, Usage usage) const {
  return choose_for_address(address, usage, nullptr);
}

Result<KeyChoice> Keyring::key_for_address(std::string_view address, Usage usage,
                                           const std::vector<std::string>& among) const {
  return choose_for_address(address, usage, &among);
}

Result<KeyChoice> Keyring::choose_for_address(std::string_view address, Usage usage,
                                              const std::vector<std::string>* among) const {
  Result<KeyChoice> best = fail(ErrorKind::not_found, "no OpenPGP key for " + std::string(address));
  Seconds best_created{};
  // With `among`, only those keys are looked at (a shared keyring may hold many).
  std::vector<std::string> candidates;
  if (among) {
    for (const auto& a : *among)
      if (std::none_of(candidates.begin(), candidates.end(),
                       [&](const std::string& c) { return same_hex(c, a); }))
        candidates.push_back(a);
  } else {
    candidates = primary_fingerprints(ffi());
  }
  for (const auto& fpr : candidates) {
    auto primary = locate_key(ffi(), fpr);
    if (!primary || !get_bool(rnp_key_is_primary, primary.get(), false) ||
        !carries_address(primary.get(), address))
      continue;
    auto choice = choose_subkey(primary.get(), usage);
    if (!choice) {
      if (!best) best = choice;  // remember why the address's key is unusable
      continue;
    }
    Seconds created = describe_subkey(primary.get()).created;
    if (!best || created > best_created) {
      best = std::move(choice);
      best_created = created;
    }
  }
  return best;
}

}  // namespace mailseal::openpgp
