// RevocationFilteredSource::find_public: each S/MIME certificate is checked against its
// issuer (found among the trust anchors) before it is handed out.
#include "keys/revocation_source.h"

namespace mailseal::keys {

std::vector<PublicKeyRecord> RevocationFilteredSource::find_public(
    std::string_view address, KeyKind kind, std::optional<SourceError>& error) {
  auto found = inner_->find_public(address, kind, error);
  if (error || kind != KeyKind::smime || found.empty()) return found;
  std::vector<crypto::X509Ptr> anchors;
  std::vector<crypto::X509CrlPtr> crls;
  for (KeySource* s : issuers_from_) {
    for (auto& a : s->trust_anchors(error)) anchors.push_back(std::move(a));
    if (error) return {};
    for (auto& c : s->crls(error)) crls.push_back(std::move(c));
    if (error) return {};
  }
  std::vector<X509*> anchor_ptrs;
  for (auto& a : anchors) anchor_ptrs.push_back(a.get());
  std::vector<X509_CRL*> crl_ptrs;
  for (auto& c : crls) crl_ptrs.push_back(c.get());
  std::vector<PublicKeyRecord> out;
  for (auto& rec : found) {
    if (!rec.cert) continue;
    X509* issuer = find_issuer(rec.cert.get(), anchor_ptrs);
    RevocationResult r = checker_->check(rec.cert.get(), issuer, crl_ptrs);
    if (r.state == Revocation::revoked) {  // never encrypted to
      checker_->warn("certificate sha256:" + rec.fingerprint + " of " + std::string(address) +
                     " not used: revoked (" + r.detail + ")");
      continue;
    }
    if (r.state == Revocation::unavailable) {  // hard-fail: the mail waits (451)
      checker_->warn(r.detail + " (hard-fail: " + std::string(address) + " deferred)");
      error = SourceError{"revocation", r.detail};
      return {};
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace mailseal::keys
