// SMTP (RFC 5321) and LMTP (RFC 2033) client toward the next hop: EHLO/LHLO, STARTTLS by
// policy (none, opportunistic, verify), PIPELINING when offered, SIZE, 8BITMIME,
// SMTPUTF8, dot-stuffed DATA streamed from the message body, per-recipient results.
#pragma once

#include "delivery/next_hop.h"

namespace mailseal::delivery {

class SmtpNextHop : public NextHop {
 public:
  SmtpNextHop(core::NextHopConfig config, std::string hostname);
  net::awaitable<DeliveryResult> deliver(const DeliveryRequest& request) override;
  std::string describe() const override;

 private:
  core::NextHopConfig config_;
  std::string hostname_;
  net::asio::ssl::context tls_;
};

}  // namespace mailseal::delivery
