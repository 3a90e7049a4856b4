// What the discovery sources (WKD, DANE: keys of outside correspondents found on the
// Internet) share: the report of one lookup for `mailseal keys lookup`, the turning of
// fetched bytes into candidate keys with the same rules as the directory source
// (ldap_candidates: a certificate must name the address, not be a CA and be valid now; an
// OpenPGP key needs a valid user ID carrying the address and a valid encryption key), and
// their log callback.
//
// Failure semantics (KeySource::discovery()): a discovery source that cannot answer
// (timeout, refused, SERVFAIL, DNSSEC bogus) reports a SourceError, but the gateway lets it
// decide only for a recipient that no other source has a key for: then sealing would
// otherwise refuse the recipient or send in clear, so a temporary failure (451 4.7.0) is
// the safe answer, and the client retries.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "keys/discovery_cache.h"
#include "keys/key_source.h"
#include "keys/ldap_candidates.h"

namespace mailseal::keys {

enum class DiscoveryLogLevel { info, warn, error };
using DiscoveryLogger = std::function<void(DiscoveryLogLevel, const std::string&)>;

struct DiscoveryInspection {
  DiscoveryEntry entry;                   // as fetched now or taken from the cache
  bool cached = false;                    // true: no network was asked this time
  std::vector<LdapCandidate> candidates;  // usable first, newest first (dn = origin)
};

// Candidates out of fetched key bytes: OpenPGP blobs may hold several keys each; S/MIME
// blobs are DER certificates. `origin` and `label` fill LdapCandidate::dn / attribute;
// record.source becomes `source`.
std::vector<LdapCandidate> discovered_candidates(const std::vector<std::string>& blobs,
                                                 const std::string& origin,
                                                 const std::string& label, KeyKind kind,
                                                 std::string_view address,
                                                 const std::string& source, std::int64_t now);

// The usable records of an inspection, or the SourceError of a failed lookup.
std::vector<PublicKeyRecord> usable_records(DiscoveryInspection seen, const std::string& source,
                                            std::optional<SourceError>& error);

// True when the address is in one of `own_domains` (lower case, exact match like
// [outside] internal_domains): our own users' keys are in the store, and asking the
// Internet for them (the sender's own key on every outbound message) would only add
// waiting when that server is slow.
bool in_own_domain(std::string_view address, const std::vector<std::string>& own_domains);

// An inspection that asked nothing (the kind is not served, the address is our own):
// "not found" with why, marked cached so that no failure is logged for it.
DiscoveryInspection not_asked(std::string why);
inline constexpr const char* kOwnDomainNotAsked =
    "own domain ([outside] internal_domains): not looked up";

// Cache key: "<source>/<kind>/<normalised address>".
std::string discovery_key(const std::string& source, KeyKind kind, std::string_view address);

}  // namespace mailseal::keys
