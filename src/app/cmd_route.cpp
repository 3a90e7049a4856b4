// `mailseal route --config FILE ADDRESS_OR_DOMAIN`: shows how direct (MX) delivery would
// go, using the same resolver as queue mode: MX hosts in order, their addresses, DNSSEC
// state, TLSA records and whether DANE applies (RFC 7672 2.2), or why there is no route.
// Exit 0: a route exists; 1: permanent failure (the message would bounce); 75
// (EX_TEMPFAIL): temporary failure (it would be retried); 78 (EX_CONFIG): bad config.
#include <iostream>

#include "app/commands.h"
#include "core/config.h"
#include "dns/resolver.h"
#include "net/dane.h"

namespace mailseal::app {

namespace {

constexpr int kPermanent = 1, kTemporary = 75, kConfig = 78;

const char* dnssec(const dns::Outcome& o) {
  return o.bogus ? "bogus" : o.secure ? "secure" : "insecure";
}

// The reply a sender would get, for the one-line verdict.
std::string smtp_code(dns::Status s) {
  switch (s) {
    case dns::Status::null_mx:
      return "556 5.1.10";  // RFC 7505 section 4.2
    case dns::Status::no_domain:
      return "550 5.1.2";
    case dns::Status::no_records:
      return "550 5.4.4";
    default:
      return "451 4.4.3";
  }
}

int fail(const dns::Outcome& o) {
  bool temporary = o.status == dns::Status::temporary;
  std::cout << "route: " << (temporary ? "temporary" : "permanent")
            << " failure: " << smtp_code(o.status) << " " << o.reason << "\n";
  return temporary ? kTemporary : kPermanent;
}

// One MX host: addresses, then TLSA when RFC 7672 2.2 allows DANE. Returns the host's
// status: ok (deliverable), temporary or a permanent one.
dns::Status show_host(dns::Resolver& resolver, const dns::MxResult& mx, const dns::MxHost& h,
                      std::string& last_reason) {
  std::cout << "  " << h.preference << " " << h.name << (h.implicit ? " (implicit MX)" : "")
            << "\n";
  auto addresses = resolver.lookup_addresses(h.name);
  if (addresses.status != dns::Status::ok) {
    std::cout << "      addresses: none: " << addresses.reason << " [" << dnssec(addresses)
              << "]\n";
    last_reason = addresses.reason;
    return addresses.status;
  }
  std::cout << "      addresses:";
  for (const auto& a : addresses.addresses) std::cout << " " << a;
  std::cout << " [" << dnssec(addresses) << "]\n";
  // DANE needs a chain of secure answers: the MX RRset (or the denial that made the
  // implicit MX) and the host's addresses; otherwise TLSA is not even looked up.
  if (!mx.secure || !addresses.secure) {
    std::cout << "      DANE: no (" << (mx.secure ? "addresses" : "MX records")
              << " not DNSSEC-validated)\n";
    return dns::Status::ok;
  }
  auto tlsa = resolver.lookup_tlsa(h.name, 25);
  if (tlsa.status == dns::Status::temporary) {
    // RFC 7672 2.2: a failed TLSA lookup in a signed zone makes the host unusable now.
    std::cout << "      TLSA " << tlsa.name << ": " << tlsa.reason << " [" << dnssec(tlsa)
              << "]\n      DANE: lookup failed; host skipped for now\n";
    last_reason = tlsa.reason;
    return dns::Status::temporary;
  }
  if (tlsa.status != dns::Status::ok) {
    std::cout << "      TLSA " << tlsa.name << ": none [" << dnssec(tlsa) << "]\n"
              << "      DANE: no (no TLSA records)\n";
    return dns::Status::ok;
  }
  for (const auto& r : tlsa.records)
    std::cout << "      TLSA " << tlsa.name << ": " << core::to_string(r) << " [" << dnssec(tlsa)
              << "]\n";
  if (!tlsa.secure) {
    std::cout << "      DANE: no (TLSA records not DNSSEC-validated)\n";
    return dns::Status::ok;
  }
  auto usable = net::usable_tlsa(tlsa.records);
  if (usable.empty())
    std::cout << "      DANE: TLS required, but no usable record to authenticate the server\n";
  else
    std::cout << "      DANE: yes (" << usable.size() << " usable record"
              << (usable.size() == 1 ? "" : "s") << ")\n";
  return dns::Status::ok;
}

int route(const core::Config& config, std::string target) {
  std::string domain = target.substr(target.rfind('@') + 1);  // npos + 1 == 0
  if (domain.empty() || domain.front() == '[') {
    std::cout << "route: permanent failure: \"" << target
              << "\" has no domain to look up (address literals are not routed by DNS)\n";
    return kPermanent;
  }
  std::unique_ptr<dns::Resolver> resolver;
  try {
    resolver = std::make_unique<dns::Resolver>(config.dns);
  } catch (const std::exception& e) {
    std::cerr << "mailseal route: " << e.what() << "\n";
    return kConfig;
  }
  std::cout << "route to " << domain << " via resolver " << resolver->upstream() << ", DNSSEC "
            << (resolver->trust_anchor().empty()
                    ? std::string("not validated")
                    : "validated (" + resolver->trust_anchor().string() + ")")
            << "\n";
  auto mx = resolver->lookup_mx(domain);
  if (mx.status != dns::Status::ok) return fail(mx);
  std::cout << "MX: " << mx.reason << " [" << dnssec(mx) << "]\n";
  bool deliverable = false, temporary = false;
  std::string last_reason;
  for (const auto& host : mx.hosts) {
    auto s = show_host(*resolver, mx, host, last_reason);
    deliverable |= s == dns::Status::ok;
    temporary |= s == dns::Status::temporary;
  }
  if (deliverable) {
    std::cout << "route: ok\n";
    return 0;
  }
  dns::Outcome none;
  none.status = temporary ? dns::Status::temporary : dns::Status::no_records;
  none.reason = domain + ": no MX host is usable (last: " + last_reason + ")";
  return fail(none);
}

}  // namespace

void add_route_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "route", "Show how direct (MX) delivery to an address or domain would go: MX, DNSSEC, DANE");
  auto file = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->add_option("target", *target, "user@domain or domain")->required();
  cmd->callback([file, target, &exit_code] {
    auto result = core::load_config(*file);
    if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&result)) {
      for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
      exit_code = kConfig;
      return;
    }
    exit_code = route(std::get<core::Config>(result), *target);
  });
}

}  // namespace mailseal::app
