// MxNextHop: resolve, walk the MX list, hand each host to the SMTP client.
#include "delivery/mx_next_hop.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/dane.h"
#include "util/strings.h"

namespace mailseal::delivery {

namespace asio = net::asio;

smtp::Reply dns_failure_reply(const dns::Outcome& outcome, const std::string& domain) {
  switch (outcome.status) {
    case dns::Status::null_mx:
      return smtp::make_reply(556, "5.1.10",
                              fmt::format("Recipient domain {} accepts no mail (null MX, RFC "
                                          "7505)",
                                          domain));
    case dns::Status::no_domain:
      return smtp::make_reply(
          550, "5.1.2",
          fmt::format("Recipient domain {} does not exist ({})", domain, outcome.reason));
    case dns::Status::no_records:
      return smtp::make_reply(
          550, "5.1.2",
          fmt::format("Recipient domain {} has no mail host ({})", domain, outcome.reason));
    default:
      return smtp::make_reply(
          451, "4.4.3",
          fmt::format("DNS lookup for {} failed, try again later ({})", domain, outcome.reason));
  }
}

MxNextHop::MxNextHop(core::NextHopConfig config, std::string hostname, const core::DnsConfig& dns)
    : config_(config),
      resolver_(std::make_unique<dns::Resolver>(dns)),
      dns_pool_(std::make_unique<asio::thread_pool>(4)),
      smtp_(config, std::move(hostname)) {}

MxNextHop::~MxNextHop() {
  dns_pool_->join();
}

net::awaitable<DeliveryResult> MxNextHop::deliver(const DeliveryRequest& request) {
  const std::string& first = request.recipients.front();
  const auto at = first.rfind('@');
  const std::string domain = util::to_lower(at == std::string::npos ? "" : first.substr(at + 1));
  auto home = co_await asio::this_coro::executor;
  auto on_dns = asio::bind_executor(*dns_pool_, asio::use_awaitable);

  co_await asio::post(on_dns);
  dns::MxResult mx = resolver_->lookup_mx(domain);
  co_await asio::post(home, asio::use_awaitable);
  if (mx.status != dns::Status::ok) {
    spdlog::info("mx domain={} {}: {}", domain, dns::to_string(mx.status), mx.reason);
    co_return all_recipients(request, dns_failure_reply(mx, domain));
  }

  std::optional<DeliveryResult> last;
  std::size_t tried = 0;
  for (std::size_t i = 0; i < mx.hosts.size() && tried < kMaxHosts; ++i) {
    const dns::MxHost& host = mx.hosts[i];
    ++tried;
    co_await asio::post(on_dns);
    dns::AddressResult addresses = resolver_->lookup_addresses(host.name);
    dns::TlsaResult tlsa;
    const bool want_dane =
        config_.dane && mx.secure && addresses.status == dns::Status::ok && addresses.secure;
    if (want_dane) tlsa = resolver_->lookup_tlsa(host.name, config_.port);
    co_await asio::post(home, asio::use_awaitable);

    if (addresses.status != dns::Status::ok) {
      last = all_recipients(
          request, smtp::make_reply(451, "4.4.3",
                                    fmt::format("MX host {} of {}: no address ({})", host.name,
                                                domain, addresses.reason)));
      continue;
    }
    SmtpTarget target{host.name, addresses.addresses, config_.port, host.name, {}};
    if (want_dane) {
      // A failed TLSA lookup makes the host unusable: it might have records that an
      // attacker hides (RFC 7672 2.2.2).
      if (tlsa.status == dns::Status::temporary) {
        last = all_recipients(
            request, smtp::make_reply(
                         451, "4.7.5",
                         fmt::format("TLSA lookup for {} failed ({})", host.name, tlsa.reason)));
        continue;
      }
      if (tlsa.status == dns::Status::ok && tlsa.secure)
        target.dane = net::usable_tlsa(tlsa.records);
    }
    spdlog::debug("mx domain={} trying {} (preference {}, {} addresses, dane {})", domain,
                  host.name, host.preference, addresses.addresses.size(),
                  target.dane.empty() ? "no" : "yes");
    SessionOutcome outcome = co_await smtp_.deliver_to(target, request);
    if (!outcome.try_next) co_return std::move(outcome.result);
    spdlog::info("mx domain={} host {} failed ({}), trying the next", domain, host.name,
                 outcome.result.summary);
    last = std::move(outcome.result);
  }
  if (!last)
    last =
        all_recipients(request, smtp::make_reply(451, "4.4.3", "No usable MX host for " + domain));
  co_return std::move(*last);
}

}  // namespace mailseal::delivery
