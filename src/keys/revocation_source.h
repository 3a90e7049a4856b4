// A KeySource that hides revoked S/MIME certificates of another source: what the gateway
// encrypts to comes from find_public, so a certificate revoked by CRL or OCSP never reaches
// the seal filters (nor the format router, nor `keys lookup` through the daemon's sources).
// A recipient left without certificate then follows [seal] no_certificate like any other
// (550 5.7.1 at RCPT with "refuse"). Under OCSP hard-fail an unanswered check is a source
// error (451 4.7.0). Everything else (secret keys, anchors, CRLs, OpenPGP) passes through.
#pragma once

#include <vector>

#include "keys/key_source.h"
#include "keys/revocation_checker.h"

namespace mailseal::keys {

class RevocationFilteredSource : public KeySource {
 public:
  // `issuers_from`: the sources whose trust anchors and CRLs are used to check (the store).
  RevocationFilteredSource(KeySource* inner, std::vector<KeySource*> issuers_from,
                           RevocationChecker* checker)
      : inner_(inner), issuers_from_(std::move(issuers_from)), checker_(checker) {}

  std::string name() const override { return inner_->name(); }
  bool discovery() const override { return inner_->discovery(); }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;
  std::vector<SecretKeyRecord> find_secret(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override {
    return inner_->find_secret(address, kind, error);
  }
  std::vector<SecretKeyRecord> find_secret_for(std::string_view address, KeyKind kind,
                                               const std::function<bool(X509*)>& wanted,
                                               std::optional<SourceError>& error) override {
    return inner_->find_secret_for(address, kind, wanted, error);
  }
  std::vector<PublicKeyRecord> find_openpgp_by_id(std::string_view key_id,
                                                  std::optional<SourceError>& error) override {
    return inner_->find_openpgp_by_id(key_id, error);
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<SourceError>& error) override {
    return inner_->trust_anchors(error);
  }
  std::vector<crypto::X509CrlPtr> crls(std::optional<SourceError>& error) override {
    return inner_->crls(error);
  }

 private:
  KeySource* inner_;
  std::vector<KeySource*> issuers_from_;
  RevocationChecker* checker_;
};

}  // namespace mailseal::keys
