// KeyLookup: sources asked in order; the first error stops the search (a 4xx follows),
// except a discovery source's, which only counts when no source has a certificate.
#include "gateway/key_lookup.h"

namespace mailseal::gateway {

std::optional<keys::PublicKeyRecord> KeyLookup::certificate(
    const std::string& address, std::optional<keys::SourceError>& error) {
  // A discovery source's failure (WKD, DANE) counts only if no later source has a
  // certificate: see KeySource::discovery().
  std::optional<keys::SourceError> deferred;
  for (keys::KeySource* s : sources_) {
    std::optional<keys::SourceError> e;
    auto found = s->find_public(address, keys::KeyKind::smime, e);
    if (e && !s->discovery()) {
      error = std::move(e);
      return std::nullopt;
    }
    if (e) {
      if (!deferred) deferred = std::move(e);
      continue;
    }
    for (auto& rec : found)
      if (rec.cert) return std::move(rec);
  }
  if (deferred) error = std::move(deferred);
  return std::nullopt;
}

std::vector<keys::SecretKeyRecord> KeyLookup::secret_keys(const std::string& address,
                                                          std::optional<keys::SourceError>& error) {
  std::vector<keys::SecretKeyRecord> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->find_secret(address, keys::KeyKind::smime, error);
    if (error) return {};
    for (auto& rec : found)
      if (rec.cert && rec.key) out.push_back(std::move(rec));
  }
  return out;
}

std::vector<keys::SecretKeyRecord> KeyLookup::secret_keys(const std::string& address,
                                                          const std::function<bool(X509*)>& wanted,
                                                          std::optional<keys::SourceError>& error) {
  std::vector<keys::SecretKeyRecord> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->find_secret_for(address, keys::KeyKind::smime, wanted, error);
    if (error) return {};
    for (auto& rec : found)
      if (rec.cert && rec.key) out.push_back(std::move(rec));
  }
  return out;
}

std::vector<crypto::X509Ptr> KeyLookup::anchors(std::optional<keys::SourceError>& error) {
  std::vector<crypto::X509Ptr> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->trust_anchors(error);
    if (error) return {};
    for (auto& c : found) out.push_back(std::move(c));
  }
  return out;
}

std::vector<crypto::X509CrlPtr> KeyLookup::crls(std::optional<keys::SourceError>& error) {
  std::vector<crypto::X509CrlPtr> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->crls(error);
    if (error) return {};
    for (auto& c : found) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mailseal::gateway
