// WkdKeySource: advanced then direct method, each a resolve + HTTPS GET (see wkd_source.h).
#include "keys/wkd_source.h"

#include "dns/resolver.h"
#include "keys/wkd_url.h"

namespace mailseal::keys {
namespace {

constexpr std::size_t kMaxResponse = 1 << 20;
constexpr int kMaxRedirects = 3;

using State = DiscoveryEntry::State;

// One method's outcome: an answer (found / not found / failed), or `absent` — the host does
// not exist or accepts no connection, so the next method may be tried.
struct Attempt {
  bool absent = false;
  bool host_exists = false;  // absent, but the name resolved (nothing listening)
  DiscoveryEntry entry;
};

// The path of a redirect we follow: same host (and port), https, or a path on it.
std::optional<std::string> same_host_path(const std::string& location, const std::string& host,
                                          std::uint16_t port) {
  if (!location.empty() && location.front() == '/' && (location.size() == 1 || location[1] != '/'))
    return location;
  std::string prefix = "https://" + host;
  std::string with_port = prefix + ":" + std::to_string(port);
  for (const auto& p : {with_port, prefix}) {
    if (p == prefix && port != 443) continue;
    if (location.size() > p.size() && location.compare(0, p.size(), p) == 0 &&
        location[p.size()] == '/')
      return location.substr(p.size());
  }
  return std::nullopt;
}

}  // namespace

WkdKeySource::WkdKeySource(WkdOptions options, std::shared_ptr<HttpsClient> https,
                           dns::Resolver& resolver, DiscoveryCache& cache, DiscoveryLogger log)
    : options_(options),
      https_(std::move(https)),
      resolver_(resolver),
      cache_(cache),
      log_(std::move(log)) {}

DiscoveryEntry WkdKeySource::fetch(const std::string& address) {
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  DiscoveryEntry out;
  auto urls = wkd_urls(address);
  if (!urls) {
    out.state = State::not_found;
    out.detail = "not an address a Web Key Directory can be asked for";
    return out;
  }
  auto attempt = [&](const WkdLocation& where, const char* method) {
    Attempt a;
    a.entry.origin = wkd_url_text(where, options_.port);
    auto& steps = out.steps;
    auto resolved = resolver_.lookup_addresses(where.host);
    if (resolved.status == dns::Status::no_domain || resolved.status == dns::Status::no_records) {
      a.absent = true;
      steps.push_back(std::string(method) + ": " + where.host + " does not exist (" +
                      resolved.reason + ")");
      return a;
    }
    if (resolved.status != dns::Status::ok) {
      a.entry.state = State::failed;
      a.entry.detail = std::string(method) + ": resolving " + where.host + ": " + resolved.reason;
      steps.push_back(a.entry.detail);
      return a;
    }
    std::string path = where.path;
    for (int hop = 0;; ++hop) {
      std::string url = wkd_url_text({where.host, path}, options_.port);
      HttpsClient::Request req{where.host,         options_.port, path,
                               resolved.addresses, kMaxResponse,  deadline};
      auto resp = https_->get(req);
      if (!resp.ok) {
        if (!resp.reached && !resp.timed_out) {
          a.absent = true;
          a.host_exists = true;
          steps.push_back(std::string(method) + ": " + url + ": " + resp.error);
          return a;
        }
        a.entry.state = State::failed;
        a.entry.detail = std::string(method) + ": " + url + ": " + resp.error;
        steps.push_back(a.entry.detail);
        return a;
      }
      steps.push_back(std::string(method) + ": " + url + ": HTTP " + std::to_string(resp.status) +
                      (resp.status == 200 ? ", " + std::to_string(resp.body.size()) + " bytes"
                                          : std::string()));
      if (resp.status == 200 && !resp.body.empty()) {
        a.entry.state = State::found;
        a.entry.origin = url;
        a.entry.blobs.push_back(std::move(resp.body));
        return a;
      }
      if (resp.status >= 300 && resp.status < 400 && hop < kMaxRedirects) {
        if (auto next = same_host_path(resp.location, where.host, options_.port)) {
          path = *next;
          continue;
        }
        a.entry.state = State::not_found;
        a.entry.detail = std::string(method) + ": redirect to " + resp.location +
                         " not followed (other host or scheme)";
        return a;
      }
      // 5xx: the server is there but failing: a failure, cached briefly. Anything else
      // (404 above all, an empty 200, too many redirects) says the key is not published.
      a.entry.state = resp.status >= 500 ? State::failed : State::not_found;
      a.entry.detail = std::string(method) + ": " + url + ": HTTP " + std::to_string(resp.status);
      return a;
    }
  };
  Attempt advanced = attempt(urls->advanced, "advanced");
  if (!advanced.absent) {
    advanced.entry.steps = std::move(out.steps);
    return advanced.entry;
  }
  Attempt direct = attempt(urls->direct, "direct");
  direct.entry.steps = std::move(out.steps);
  if (!direct.absent) return direct.entry;
  // Neither method could be asked. If some host exists but nothing answered there, the
  // domain's key server is down (a failure); otherwise the domain has no WKD.
  if (advanced.host_exists || direct.host_exists) {
    direct.entry.state = State::failed;
    direct.entry.detail =
        "no Web Key Directory server reachable (" + direct.entry.steps.back() + ")";
  } else {
    direct.entry.state = State::not_found;
    direct.entry.detail = "the domain has no Web Key Directory host";
  }
  return direct.entry;
}

DiscoveryInspection WkdKeySource::inspect(std::string_view address, KeyKind kind) {
  if (kind != KeyKind::openpgp) return not_asked("WKD holds OpenPGP keys only");
  const std::string addr = normalise_address(address);
  if (in_own_domain(addr, options_.own_domains)) return not_asked(kOwnDomainNotAsked);
  DiscoveryInspection seen;
  seen.entry = cache_.lookup(
      discovery_key(name(), kind, addr), [&] { return fetch(addr); }, seen.cached);
  if (!seen.cached && seen.entry.state == State::failed && log_)
    log_(DiscoveryLogLevel::warn, "key source wkd: " + addr + ": " + seen.entry.detail +
                                      "; mail to it without another key is deferred (451)");
  if (seen.entry.state == State::found)
    seen.candidates = discovered_candidates(seen.entry.blobs, seen.entry.origin, "wkd", kind, addr,
                                            name(), cache_.now());
  return seen;
}

std::vector<PublicKeyRecord> WkdKeySource::find_public(std::string_view address, KeyKind kind,
                                                       std::optional<SourceError>& error) {
  if (kind != KeyKind::openpgp) return {};
  return usable_records(inspect(address, kind), name(), error);
}

}  // namespace mailseal::keys
