// The public key sources of `[keys] sources`, built in the order they are asked: the
// SQLite store (owned elsewhere, by KeyAdmin) and a directory server ([keys.ldap]).
// Shared by `serve` (filters.cpp) and `keys lookup`, so both ask the same sources in the
// same order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "keys/key_source.h"
#include "keys/ldap_source.h"

namespace mailseal::app {

struct KeySources {
  std::unique_ptr<keys::LdapKeySource> ldap;  // when "ldap" is listed
  std::vector<keys::KeySource*> ordered;      // as listed; points at `store` and the above
};

// Fails with a one-line reason (e.g. the bind password file cannot be read). Failures of
// the directory itself are not start-up errors: mail that needs it gets a 451 and the log
// names the source, so a directory outage never stops the gateway.
// `log`: report the directory's outages and recoveries to the daemon log (serve); the
// `keys lookup` report prints them itself.
bool make_key_sources(const core::Config& config, keys::KeySource& store, KeySources& out,
                      std::string& error, bool log = true);

}  // namespace mailseal::app
