// SMTP (RFC 5321) and LMTP (RFC 2033) client toward the next hop: EHLO/LHLO, STARTTLS by
// policy (none, opportunistic, verify), PIPELINING when offered, SIZE, 8BITMIME,
// SMTPUTF8, dot-stuffed DATA streamed from the message body, per-recipient results.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/tlsa.h"
#include "delivery/next_hop.h"
#include "delivery/session_cache.h"

namespace mailseal::delivery {

// One server to talk to. Direct delivery (MxNextHop) fills it per MX host.
struct SmtpTarget {
  std::string host;                    // name to resolve when `addresses` is empty
  std::vector<std::string> addresses;  // already resolved (MX delivery)
  std::uint16_t port = 25;
  std::string tls_name;                // SNI and, for tls = verify, the name checked
  std::vector<core::TlsaRecord> dane;  // usable, DNSSEC-secure: TLS then authenticated by them
};

struct SessionOutcome {
  DeliveryResult result;
  // The server failed before MAIL FROM (connection, greeting, EHLO, TLS): another MX
  // host may be tried (RFC 5321 5.1).
  bool try_next = false;
};

class SmtpNextHop : public NextHop {
 public:
  SmtpNextHop(core::NextHopConfig config, std::string hostname);
  net::awaitable<DeliveryResult> deliver(const DeliveryRequest& request) override;
  std::string describe() const override;
  bool takes_growing_body() const override { return true; }
  net::awaitable<SessionOutcome> deliver_to(const SmtpTarget& target,
                                            const DeliveryRequest& request);
  // Most idle sessions kept to the next hop; more concurrent deliveries close theirs.
  static constexpr std::size_t kMaxIdleSessions = 32;

 private:
  struct Transaction {
    SessionOutcome outcome;
    bool stale = false;     // a kept session the next hop had closed: nothing was sent
    bool reusable = false;  // complete, nothing unread: may carry the next message
  };
  // Connect, greeting, EHLO/LHLO, STARTTLS by policy. A failure reply, or nullopt.
  net::awaitable<std::optional<smtp::Reply>> open(ClientSession& session, const SmtpTarget& target);
  // One transaction on an open session. keep_open: on success, leave it open (no QUIT).
  net::awaitable<Transaction> transact(ClientSession& session, const DeliveryRequest& request,
                                       bool reused, bool keep_open);

  core::NextHopConfig config_;
  std::string hostname_;
  net::asio::ssl::context tls_;
  std::unique_ptr<SessionCache> cache_;
};

}  // namespace mailseal::delivery
