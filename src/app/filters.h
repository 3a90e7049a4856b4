// Builds what `serve` needs beyond the configuration: the key store (the configured key
// sources) and the seal/open filters for the two sides, mapped from [seal] and [open].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/key_sources.h"
#include "core/config.h"
#include "core/message_filter.h"
#include "keys/key_admin.h"
#include "keys/revocation_checker.h"
#include "keys/token_kek.h"

namespace mailseal::app {

struct GatewayFilters {
  std::unique_ptr<keys::TokenKek> kek;  // unwraps a wrapped master key file (outlives key_store)
  std::unique_ptr<keys::KeyAdmin> key_store;  // owns the SQLite store
  KeySources sources;  // [keys] sources in order (the store, LDAP); outlives the filters
  // [keys.pkcs11]: the token's secret keys (declared before the filters, so it outlives
  // them: the keys it handed out point into its libp11 context).
  std::unique_ptr<keys::KeySource> pkcs11;
  // [revocation]: the checker, and the sources as the seal side sees them (revoked
  // certificates hidden); both outlive the filters that point at them.
  std::shared_ptr<keys::RevocationChecker> revocation;
  std::vector<std::unique_ptr<keys::KeySource>> checked_sources;
  std::unique_ptr<core::MessageFilter> seal;
  std::unique_ptr<core::MessageFilter> open;
};

// Fails with a one-line reason (e.g. the key store was never initialised).
bool make_filters(const core::Config& config, GatewayFilters& out, std::string& error);

}  // namespace mailseal::app
