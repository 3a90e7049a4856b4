// Resolver: builds the libunbound context from [dns] and asks through the QueryEngine.
#include "dns/resolver.h"

#include <unbound.h>

#include <random>
#include <stdexcept>
#include <system_error>

#include "dns/interpret.h"
#include "dns/query_engine.h"

namespace mailseal::dns {

namespace {

constexpr int kTypeA = 1, kTypeMx = 15, kTypeAaaa = 28, kTypeSmimea = 53, kTypeTlsa = 52,
              kTypeOpenpgpkey = 61;

void check(int err, const std::string& what) {
  if (err != 0) throw std::runtime_error("dns: " + what + ": " + ub_strerror(err));
}

std::mt19937& rng() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return generator;
}

std::string without_trailing_dot(std::string_view name) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

}  // namespace

Resolver::Resolver(const core::DnsConfig& config)
    : timeout_(std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout)) {
  ub_ctx* ctx = ub_ctx_create();
  if (!ctx) throw std::runtime_error("dns: cannot create the libunbound context");
  try {
    // Threads, not the default fork(): the gateway is multi-threaded.
    check(ub_ctx_async(ctx, 1), "async mode");
    // The resolver is named explicitly (or by resolv.conf), so a local one on 127.0.0.1
    // is intended; unbound refuses loopback servers by default.
    check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"), "do-not-query-localhost");
    if (config.resolver_address.empty()) {
      check(ub_ctx_resolvconf(ctx, nullptr), "reading /etc/resolv.conf");
      upstream_ = "/etc/resolv.conf";
    } else {
      upstream_ = config.resolver_address + "@" + std::to_string(config.resolver_port);
      check(ub_ctx_set_fwd(ctx, upstream_.c_str()), "resolver " + upstream_);
    }
    if (config.dnssec) {
      trust_anchor_ = config.trust_anchor;
      std::error_code ec;
      if (trust_anchor_.empty() && std::filesystem::exists(kDefaultTrustAnchor, ec))
        trust_anchor_ = kDefaultTrustAnchor;
      if (!trust_anchor_.empty()) {
        // libunbound reads the file only at the first query and then fails every query;
        // checking here turns a wrong path into a start-up error.
        if (FILE* f = std::fopen(trust_anchor_.c_str(), "r"))
          std::fclose(f);
        else
          throw std::runtime_error("dns: cannot read trust anchor " + trust_anchor_.string());
        check(ub_ctx_add_ta_file(ctx, trust_anchor_.c_str()),
              "trust anchor " + trust_anchor_.string());
      }
    }
    // unbound answers NXDOMAIN for "test." itself (RFC 6761 says resolvers may); let
    // such queries reach the resolver like any other, so that test setups with their own
    // DNS server work. On the Internet the answer is NXDOMAIN all the same. Last step:
    // this finalises the context, after which nothing above may be changed.
    check(ub_ctx_zone_remove(ctx, "test."), "local zone test.");
  } catch (...) {
    ub_ctx_delete(ctx);
    throw;
  }
  engine_ = std::make_unique<QueryEngine>(ctx);
}

Resolver::~Resolver() = default;

MxResult Resolver::lookup_mx(std::string_view domain) {
  std::string name = without_trailing_dot(domain);
  auto answers = engine_->ask({{name, kTypeMx}}, timeout_);
  return interpret_mx(name, answers[0], rng());
}

AddressResult Resolver::lookup_addresses(std::string_view host) {
  std::string name = without_trailing_dot(host);
  auto answers = engine_->ask({{name, kTypeA}, {name, kTypeAaaa}}, timeout_);
  return interpret_addresses(name, answers[0], answers[1]);
}

TlsaResult Resolver::lookup_tlsa(std::string_view host, std::uint16_t port) {
  std::string name = "_" + std::to_string(port) + "._tcp." + without_trailing_dot(host);
  auto answers = engine_->ask({{name, kTypeTlsa}}, timeout_);
  return interpret_tlsa(answers[0]);
}

OpenpgpkeyResult Resolver::lookup_openpgpkey(std::string_view owner) {
  std::string name = without_trailing_dot(owner);
  auto answers = engine_->ask({{name, kTypeOpenpgpkey}}, timeout_);
  return interpret_openpgpkey(answers[0]);
}

SmimeaResult Resolver::lookup_smimea(std::string_view owner) {
  std::string name = without_trailing_dot(owner);
  auto answers = engine_->ask({{name, kTypeSmimea}}, timeout_);
  return interpret_smimea(answers[0]);
}

std::pair<OpenpgpkeyResult, SmimeaResult> Resolver::lookup_dane_keys(
    std::string_view openpgpkey_owner, std::string_view smimea_owner) {
  std::string a = without_trailing_dot(openpgpkey_owner);
  std::string b = without_trailing_dot(smimea_owner);
  auto answers = engine_->ask({{a, kTypeOpenpgpkey}, {b, kTypeSmimea}}, timeout_);
  return {interpret_openpgpkey(answers[0]), interpret_smimea(answers[1])};
}

}  // namespace mailseal::dns
