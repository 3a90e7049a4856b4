// LdapKeySource: connection pool, search, failure reporting (see ldap_source.h).
#include "keys/ldap_source.h"

#include <ctime>

#include "keys/ldap_filter.h"

namespace mailseal::keys {
namespace {

// Idle connections kept for reuse; more callers at once simply open more (and the extra
// ones are closed when they are done), so a burst never waits for a connection.
constexpr std::size_t kMaxIdle = 4;

std::int64_t wall_clock() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace

LdapKeySource::LdapKeySource(LdapOptions options, Clock now, Logger log)
    : options_(std::move(options)), now_(now ? std::move(now) : wall_clock), log_(std::move(log)) {}

LdapKeySource::~LdapKeySource() = default;

std::unique_ptr<LdapConnection> LdapKeySource::take_idle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return c;
}

void LdapKeySource::give_back(std::unique_ptr<LdapConnection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
  // else: c is closed here, outside nobody's way (unbind is a local close plus one PDU)
}

Result<std::vector<LdapEntry>> LdapKeySource::search(const std::string& filter,
                                                     const std::vector<std::string>& attributes) {
  // A pooled connection may have died since its last use (the server restarted): that
  // is not an outage, so one retry on a fresh connection before reporting a failure.
  for (int attempt = 0;; ++attempt) {
    auto conn = take_idle();
    const bool reused = conn != nullptr;
    if (!conn) {
      auto opened = LdapConnection::open(options_);
      if (!opened) return opened.take_error();
      conn = std::move(opened).value();
    }
    auto found = conn->search(options_, filter, attributes);
    if (found) {
      give_back(std::move(conn));
      return found;
    }
    if (reused && conn->lost() && attempt == 0) {
      std::lock_guard lock(mu_);
      idle_.clear();  // they went to the same server: as dead as this one
      continue;
    }
    return found.take_error();
  }
}

void LdapKeySource::report_failure(const std::string& reason) {
  // At warn once per outage, not once per message; the recovery at info. Names the
  // source and the server, never the bind password.
  if (!down_.exchange(true) && log_)
    log_(LogLevel::warn, "key source ldap (" + options_.url + "): " + reason +
                             "; mail that needs it is deferred (451) until it is back");
}

void LdapKeySource::report_success() {
  if (down_.exchange(false) && log_)
    log_(LogLevel::info, "key source ldap (" + options_.url + "): reachable again");
}

LdapInspection LdapKeySource::inspect(std::string_view address, KeyKind kind,
                                      std::optional<SourceError>& error) {
  LdapInspection out;
  const std::string addr = normalise_address(address);
  out.filter = ldap_expand_filter(options_.filter, addr);
  auto found = search(out.filter, ldap_attributes(kind, options_.pgp_attribute));
  if (!found) {
    report_failure(found.error());
    error = SourceError{name(), found.error()};
    return out;
  }
  report_success();
  out.entries = found->size();
  out.candidates = ldap_candidates(found.value(), addr, kind, options_.pgp_attribute, now_());
  return out;
}

std::vector<PublicKeyRecord> LdapKeySource::find_public(std::string_view address, KeyKind kind,
                                                        std::optional<SourceError>& error) {
  std::vector<PublicKeyRecord> out;
  for (auto& c : inspect(address, kind, error).candidates)
    if (c.rejected.empty()) out.push_back(std::move(c.record));
  return out;
}

}  // namespace mailseal::keys
