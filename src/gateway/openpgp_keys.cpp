// OpenpgpKeys: key sources -> RNP keyring (see openpgp_keys.h).
#include "gateway/openpgp_keys.h"

#include <openssl/crypto.h>

namespace mailseal::gateway {

std::optional<openpgp::Keyring> OpenpgpKeys::new_keyring() {
  auto ring = openpgp::Keyring::create();
  if (!ring) return std::nullopt;
  return std::move(ring).value();
}

bool OpenpgpKeys::load_public(openpgp::Keyring& ring, const std::string& address,
                              std::optional<keys::SourceError>& error) {
  for (keys::KeySource* s : sources_) {
    auto found = s->find_public(address, keys::KeyKind::openpgp, error);
    if (error) return false;
    for (const auto& rec : found)
      if (!rec.openpgp.empty()) (void)ring.import_keys(rec.openpgp);
  }
  return true;
}

bool OpenpgpKeys::load_secret(openpgp::Keyring& ring, const std::string& address,
                              std::optional<keys::SourceError>& error) {
  for (keys::KeySource* s : sources_) {
    auto found = s->find_secret(address, keys::KeyKind::openpgp, error);
    if (error) return false;
    for (auto& rec : found) {
      if (rec.openpgp.empty()) continue;
      (void)ring.import_keys(rec.openpgp);
      OPENSSL_cleanse(rec.openpgp.data(), rec.openpgp.size());
    }
  }
  return true;
}

std::vector<std::string> OpenpgpKeys::by_id(std::string_view id,
                                            std::optional<keys::SourceError>& error) {
  std::vector<std::string> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->find_openpgp_by_id(id, error);
    if (error) return {};
    for (auto& rec : found)
      if (!rec.openpgp.empty()) out.push_back(std::move(rec.openpgp));
  }
  return out;
}

std::optional<std::string> OpenpgpKeys::encryption_key(const std::string& address,
                                                       std::optional<keys::SourceError>& error) {
  auto ring = new_keyring();
  if (!ring || !load_public(*ring, address, error)) return std::nullopt;
  auto choice = ring->key_for_address(address, openpgp::Usage::encrypt);
  if (!choice) return std::nullopt;
  return choice->primary_fingerprint;
}

}  // namespace mailseal::gateway
