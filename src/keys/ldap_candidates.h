// What a directory entry's attribute values are worth as keys for one address: parses
// certificates (DER/PEM, PKCS#7 certs-only) and OpenPGP keys (armored/binary) and applies
// the rules of a usable key (see ldap_source.h). Pure: no server, an injected clock, so
// the rules are unit-tested without slapd.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_source.h"
#include "keys/ldap_connection.h"

namespace mailseal::keys {

struct LdapCandidate {
  PublicKeyRecord record;       // source "ldap"; cert or openpgp set when it parsed
  std::string dn;               // the entry it came from
  std::string attribute;        // e.g. "usercertificate"
  std::string description;      // certificate subject, or the OpenPGP user IDs
  std::int64_t not_before = 0;  // notBefore / key creation
  std::int64_t not_after = 0;   // notAfter / expiry (kLdapNoExpiry when none)
  std::string rejected;         // empty: usable; else why not, one line
};

struct LdapInspection {
  std::string filter;                     // as sent (escaped)
  std::size_t entries = 0;                // entries that matched the filter
  std::vector<LdapCandidate> candidates;  // usable first, each group newest first
};

inline constexpr std::int64_t kLdapNoExpiry = 253402300799;  // 9999-12-31T23:59:59Z

// The attributes to ask for per kind (LDAP names, as sent).
std::vector<std::string> ldap_attributes(KeyKind kind, const std::string& pgp_attribute);

// Candidates from the entries' values for `address` at time `now`; duplicates (the same
// certificate or key in two attributes or entries) are listed once.
std::vector<LdapCandidate> ldap_candidates(const std::vector<LdapEntry>& entries,
                                           std::string_view address, KeyKind kind,
                                           const std::string& pgp_attribute, std::int64_t now);

}  // namespace mailseal::keys
