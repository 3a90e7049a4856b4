// DaneKeySource: correspondents' keys published in their domain's DNS, signed with DNSSEC:
//   OpenPGP  OPENPGPKEY at <sha256(local)[:28]>._openpgpkey.<domain>   (RFC 7929)
//   S/MIME   SMIMEA     at <sha256(local)[:28]>._smimecert.<domain>    (RFC 8162)
// Only DNSSEC-secure answers are used (the signature is what makes a key in DNS
// trustworthy): an insecure answer (unsigned zone) is not used and logged at info; a bogus
// one (validation failed: an attack or a broken zone) is not used, logged as an error, and
// counts as a failure of the source (451 for a recipient without another key), like a
// timeout or SERVFAIL — an attacker who can spoil answers must not be able to choose
// "no key" for us.
//
// SMIMEA records that yield a certificate to encrypt to: selector 0 (full certificate) and
// matching type 0 (the certificate itself, not a hash); others are listed and skipped.
//   usage 3 (DANE-EE)  the certificate is accepted on the strength of DNSSEC alone (no
//                      chain to a CA needed);
//   usage 1 (PKIX-EE)  it must also chain to one of the store's trust anchors (`anchors`),
//                      issued directly by one (DNS carries no intermediates);
//   usage 0, 2         (CA constraints) hold a CA certificate, not the recipient's: skipped.
// Either way the directory rules apply too: names the address, not a CA, valid now.
// Each OpenPGP key needs a valid user ID carrying the address and an encryption key.
// Answers are cached like WKD's (discovery_cache.h).
#pragma once

#include <functional>

#include "keys/discovery_source.h"

namespace mailseal::dns {
class Resolver;
}

namespace mailseal::keys {

struct DaneKeyOptions {
  bool openpgpkey = true;                // look up OPENPGPKEY records
  bool smimea = true;                    // look up SMIMEA records
  std::vector<std::string> own_domains;  // not looked up (in_own_domain())
};

class DaneKeySource final : public PublicKeySource {
 public:
  using Anchors = std::function<std::vector<crypto::X509Ptr>()>;

  DaneKeySource(DaneKeyOptions options, dns::Resolver& resolver, DiscoveryCache& cache,
                Anchors anchors, DiscoveryLogger log = {});

  std::string name() const override { return "dane"; }
  bool discovery() const override { return true; }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;

  DiscoveryInspection inspect(std::string_view address, KeyKind kind);
  const DaneKeyOptions& options() const { return options_; }

 private:
  DiscoveryEntry fetch_openpgp(const std::string& address);
  DiscoveryEntry fetch_smimea(const std::string& address);
  // Both record types in one round (when both are enabled); the other kind's answer is
  // put into the cache, so the next lookup of it asks nothing.
  DiscoveryEntry fetch_both(const std::string& address, KeyKind wanted);
  std::vector<LdapCandidate> smimea_candidates(const DiscoveryEntry& e, const std::string& address);
  std::string pkix_problem(X509* cert);

  DaneKeyOptions options_;
  dns::Resolver& resolver_;
  DiscoveryCache& cache_;
  Anchors anchors_;
  DiscoveryLogger log_;
};

}  // namespace mailseal::keys
