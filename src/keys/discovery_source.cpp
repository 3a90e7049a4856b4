// Shared parts of the WKD and DANE sources (see discovery_source.h).
#include "keys/discovery_source.h"

#include <algorithm>

#include "util/strings.h"

namespace mailseal::keys {

std::vector<LdapCandidate> discovered_candidates(const std::vector<std::string>& blobs,
                                                 const std::string& origin,
                                                 const std::string& label, KeyKind kind,
                                                 std::string_view address,
                                                 const std::string& source, std::int64_t now) {
  // The directory's rules through its own code: one LdapEntry standing for the answer.
  LdapEntry entry;
  entry.dn = origin;
  const char* attr = kind == KeyKind::openpgp ? "pgpkey" : "usercertificate";
  for (const auto& b : blobs) entry.values.emplace_back(attr, b);
  auto out = ldap_candidates({entry}, address, kind, "pgpkey", now);
  for (auto& c : out) {
    c.attribute = label;
    c.record.source = source;
  }
  return out;
}

std::vector<PublicKeyRecord> usable_records(DiscoveryInspection seen, const std::string& source,
                                            std::optional<SourceError>& error) {
  if (seen.entry.state == DiscoveryEntry::State::failed) {
    error = SourceError{source, seen.entry.detail, true};
    return {};
  }
  std::vector<PublicKeyRecord> out;
  for (auto& c : seen.candidates)
    if (c.rejected.empty()) out.push_back(std::move(c.record));
  return out;
}

bool in_own_domain(std::string_view address, const std::vector<std::string>& own_domains) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  std::string domain = util::to_lower(address.substr(at + 1));
  return std::find(own_domains.begin(), own_domains.end(), domain) != own_domains.end();
}

DiscoveryInspection not_asked(std::string why) {
  DiscoveryInspection seen;
  seen.entry.state = DiscoveryEntry::State::not_found;
  seen.entry.detail = std::move(why);
  seen.cached = true;
  return seen;
}

std::string discovery_key(const std::string& source, KeyKind kind, std::string_view address) {
  return source + (kind == KeyKind::openpgp ? "/openpgp/" : "/smime/") + normalise_address(address);
}

}  // namespace mailseal::keys
