// Direct delivery (queue mode, next_hop kind "mx"): the recipient domain's MX hosts by
// preference (RFC 5321 5.1; implicit MX; RFC 7505 null MX), each host's addresses, and
// DANE (RFC 7672) when the MX, the addresses and the TLSA records are all DNSSEC-secure.
// A host that fails before MAIL FROM (unreachable, 4xx/5xx greeting, TLS) makes the next
// one be tried; the last failure is the result. DNS runs on a small pool of its own
// because libunbound lookups block (up to [dns] timeout each).
#pragma once

#include <memory>

#include "delivery/smtp_client.h"
#include "dns/resolver.h"

namespace mailseal::delivery {

class MxNextHop : public NextHop {
 public:
  MxNextHop(core::NextHopConfig config, std::string hostname, const core::DnsConfig& dns);
  ~MxNextHop() override;
  // All recipients of a request share one domain (the scheduler groups them so).
  net::awaitable<DeliveryResult> deliver(const DeliveryRequest& request) override;
  std::string describe() const override { return "mx (direct delivery)"; }
  bool takes_growing_body() const override { return true; }

  static constexpr std::size_t kMaxHosts = 10;  // MX hosts tried per attempt

 private:
  core::NextHopConfig config_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<net::asio::thread_pool> dns_pool_;
  SmtpNextHop smtp_;
};

// The reply for a DNS outcome that ends delivery to a domain (exposed for unit tests).
smtp::Reply dns_failure_reply(const dns::Outcome& outcome, const std::string& domain);

}  // namespace mailseal::delivery
