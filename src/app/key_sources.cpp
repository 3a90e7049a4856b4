// make_key_sources: [keys] sources -> KeySource objects (see key_sources.h).
#include "app/key_sources.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "dns/resolver.h"
#include "keys/secret_file.h"

namespace mailseal::app {
namespace {

bool make_ldap(const core::LdapConfig& c, bool log_events,
               std::unique_ptr<keys::LdapKeySource>& out, std::string& error) {
  keys::LdapOptions o;
  o.url = c.url;
  o.base_dn = c.base_dn;
  o.filter = c.filter;
  o.bind_dn = c.bind_dn;
  // A password file readable by other users would hand them the directory credential.
  if (!c.bind_password_file.empty()) {
    auto pw = keys::read_secret_file(c.bind_password_file, "keys.ldap.bind_password_file");
    if (!pw) {
      error = pw.error();
      return false;
    }
    o.bind_password = std::move(pw).value();
  }
  o.starttls = c.starttls == "require";
  o.ca_file = c.ca_file.string();
  o.timeout = c.timeout;
  o.pgp_attribute = c.pgp_attribute;
  auto log = [](keys::LdapKeySource::LogLevel level, const std::string& text) {
    if (level == keys::LdapKeySource::LogLevel::warn)
      spdlog::warn("{}", text);
    else
      spdlog::info("{}", text);
  };
  out = std::make_unique<keys::LdapKeySource>(
      std::move(o), nullptr,
      log_events ? keys::LdapKeySource::Logger(log) : keys::LdapKeySource::Logger());
  return true;
}

void log_discovery(keys::DiscoveryLogLevel level, const std::string& text) {
  if (level == keys::DiscoveryLogLevel::error)
    spdlog::error("{}", text);
  else if (level == keys::DiscoveryLogLevel::warn)
    spdlog::warn("{}", text);
  else
    spdlog::info("{}", text);
}

// The resolver and cache "wkd" and "dane" share; built on first need.
bool discovery_base(const core::Config& config, KeySources& out, std::string& error) {
  if (out.discovery_cache) return true;
  const auto& d = config.keys.discovery;
  core::DnsConfig dns = config.dns;
  // A DNS answer may not take longer than the whole lookup may.
  auto longest = std::max(d.timeout, config.keys.wkd.timeout);
  dns.timeout = std::min(dns.timeout, longest);
  try {
    out.discovery_resolver = std::make_unique<dns::Resolver>(dns);
  } catch (const std::exception& e) {
    error = std::string("key discovery: ") + e.what();
    return false;
  }
  keys::DiscoveryLimits limits;
  limits.positive_ttl = d.positive_ttl;
  limits.negative_ttl = d.negative_ttl;
  limits.failure_ttl = d.failure_ttl;
  // A second lookup of the same address waits for the one in flight at most this long.
  auto wait =
      std::chrono::duration_cast<std::chrono::milliseconds>(longest) + std::chrono::seconds(1);
  out.discovery_cache = std::make_unique<keys::DiscoveryCache>(limits, nullptr, wait);
  return true;
}

bool make_wkd(const core::Config& config, bool log, KeySources& out, std::string& error) {
  if (!discovery_base(config, out, error)) return false;
  auto https = keys::HttpsClient::create(config.keys.wkd.ca_file.string());
  if (!https) {
    error = "keys.wkd: " + https.error();
    return false;
  }
  keys::WkdOptions o;
  o.port = config.keys.wkd.port;
  o.own_domains = config.outside.internal_domains;
  auto timeout =
      config.keys.wkd.timeout.count() ? config.keys.wkd.timeout : config.keys.discovery.timeout;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  out.wkd = std::make_unique<keys::WkdKeySource>(
      o, std::move(https).value(), *out.discovery_resolver, *out.discovery_cache,
      log ? keys::DiscoveryLogger(log_discovery) : keys::DiscoveryLogger());
  return true;
}

bool make_dane(const core::Config& config, keys::KeySource& store, bool log, KeySources& out,
               std::string& error) {
  if (!discovery_base(config, out, error)) return false;
  if (log && !config.dns.dnssec)
    spdlog::warn(
        "keys.sources lists \"dane\" but [dns] dnssec = false: no answer is secure, "
        "so no key from DNS will be used");
  keys::DaneKeyOptions o;
  o.openpgpkey = config.keys.dane.openpgpkey;
  o.smimea = config.keys.dane.smimea;
  o.own_domains = config.outside.internal_domains;
  // SMIMEA usage 1 (PKIX-EE) certificates must chain to the store's trust anchors.
  auto anchors = [&store] {
    std::optional<keys::SourceError> e;
    return store.trust_anchors(e);
  };
  out.dane = std::make_unique<keys::DaneKeySource>(
      o, *out.discovery_resolver, *out.discovery_cache, anchors,
      log ? keys::DiscoveryLogger(log_discovery) : keys::DiscoveryLogger());
  return true;
}

}  // namespace

KeySources::KeySources() = default;
KeySources::~KeySources() = default;
KeySources::KeySources(KeySources&&) noexcept = default;
KeySources& KeySources::operator=(KeySources&&) noexcept = default;

bool make_key_sources(const core::Config& config, keys::KeySource& store, KeySources& out,
                      std::string& error, bool log) {
  for (const auto& name : config.keys.sources) {
    if (name == "store") {
      out.ordered.push_back(&store);
    } else if (name == "ldap") {
      if (!config.keys.ldap.enabled()) {
        error = "keys.sources lists \"ldap\" but [keys.ldap] has no url";
        return false;
      }
      if (!make_ldap(config.keys.ldap, log, out.ldap, error)) return false;
      out.ordered.push_back(out.ldap.get());
    } else if (name == "wkd") {
      if (!make_wkd(config, log, out, error)) return false;
      out.ordered.push_back(out.wkd.get());
    } else if (name == "dane") {
      if (!make_dane(config, store, log, out, error)) return false;
      out.ordered.push_back(out.dane.get());
    }
  }
  return true;
}

}  // namespace mailseal::app
