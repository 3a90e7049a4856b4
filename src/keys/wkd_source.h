// WkdKeySource: correspondents' OpenPGP keys from their domain's Web Key Directory
// (draft-koch-openpgp-webkey-service, section 3.1). For alice@example.org:
//   1. advanced method: https://openpgpkey.example.org/.well-known/openpgpkey/example.org/
//      hu/<hash>?l=alice — when that host exists, its answer is final (the domain has
//      chosen the advanced method);
//   2. direct method:   https://example.org/.well-known/openpgpkey/hu/<hash>?l=alice —
//      only when the openpgpkey host does not exist or accepts no connection.
// Host names are resolved through mailseal's resolver ([dns]), the server certificate is
// verified against the host name (CA: [keys.wkd] ca_file, or the system's), the whole
// lookup has one deadline ([keys.discovery] timeout), responses are limited to 1 MiB, and
// redirects are followed only on the same host (at most 3). The answer may hold several
// keys; only those with a valid user ID carrying the address (and a valid encryption
// key) are used: a WKD server is not trusted to have filed keys under the right name.
//
// Answers are cached (discovery_cache.h): found, not found (HTTP 404, no such host), and
// failed (timeout, HTTP 5xx, TLS failure, DNS failure) each for their own TTL. A failure
// is a SourceError{"wkd", ...}; see discovery_source.h for what the gateway makes of it.
// WKD has OpenPGP keys only: S/MIME lookups answer empty at once.
#pragma once

#include <chrono>
#include <memory>

#include "keys/discovery_source.h"
#include "keys/https_get.h"

namespace mailseal::dns {
class Resolver;
}

namespace mailseal::keys {

struct WkdOptions {
  std::uint16_t port = 443;
  std::chrono::milliseconds timeout{5000};  // the whole lookup of one address
  std::vector<std::string> own_domains;     // not looked up (in_own_domain())
};

class WkdKeySource final : public PublicKeySource {
 public:
  // `resolver` and `cache` must outlive the source.
  WkdKeySource(WkdOptions options, std::shared_ptr<HttpsClient> https, dns::Resolver& resolver,
               DiscoveryCache& cache, DiscoveryLogger log = {});

  std::string name() const override { return "wkd"; }
  bool discovery() const override { return true; }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;

  // The lookup with everything it saw (for `mailseal keys lookup`); S/MIME: nothing.
  DiscoveryInspection inspect(std::string_view address, KeyKind kind);

  std::uint16_t port() const { return options_.port; }

 private:
  DiscoveryEntry fetch(const std::string& address);

  WkdOptions options_;
  std::shared_ptr<HttpsClient> https_;
  dns::Resolver& resolver_;
  DiscoveryCache& cache_;
  DiscoveryLogger log_;
};

}  // namespace mailseal::keys
