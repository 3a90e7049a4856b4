// The public key sources of `[keys] sources`, built in the order they are asked: the
// SQLite store (owned elsewhere, by KeyAdmin), a directory server ([keys.ldap]), and the
// discovery sources: Web Key Directory ([keys.wkd]) and DANE OPENPGPKEY/SMIMEA ([keys.dane]).
// Shared by `serve` (filters.cpp) and `keys lookup`, so both ask the same sources in the
// same order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "keys/dane_key_source.h"
#include "keys/discovery_cache.h"
#include "keys/key_source.h"
#include "keys/ldap_source.h"
#include "keys/wkd_source.h"

namespace mailseal::dns {
class Resolver;
}

namespace mailseal::app {

struct KeySources {
  KeySources();
  ~KeySources();
  KeySources(KeySources&&) noexcept;
  KeySources& operator=(KeySources&&) noexcept;

  std::unique_ptr<keys::LdapKeySource> ldap;  // when "ldap" is listed
  // "wkd" and "dane" (discovery of outside keys): one resolver (with the discovery
  // timeout) and one cache for both. Declared before the sources that use them.
  std::unique_ptr<dns::Resolver> discovery_resolver;
  std::unique_ptr<keys::DiscoveryCache> discovery_cache;
  std::unique_ptr<keys::WkdKeySource> wkd;
  std::unique_ptr<keys::DaneKeySource> dane;
  std::vector<keys::KeySource*> ordered;  // as listed; points at `store` and the above
};

// Fails with a one-line reason (e.g. the bind password file cannot be read). Failures of
// the directory itself are not start-up errors: mail that needs it gets a 451 and the log
// names the source, so a directory outage never stops the gateway.
// `log`: report the directory's outages and recoveries to the daemon log (serve); the
// `keys lookup` report prints them itself.
bool make_key_sources(const core::Config& config, keys::KeySource& store, KeySources& out,
                      std::string& error, bool log = true);

}  // namespace mailseal::app
