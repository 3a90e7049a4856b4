// A next hop takes one copy of a message for some recipients and says, per recipient,
// whether it took responsibility. SMTP, LMTP and Maildir implement it; the relay (proxy
// mode) turns the results into the one reply the client gets.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/envelope.h"
#include "core/message_body.h"
#include "net/asio.h"
#include "smtp/reply.h"

namespace mailseal::delivery {

struct RecipientResult {
  std::string recipient;
  smtp::Reply reply;  // 2xx = accepted by the next hop
};

struct DeliveryResult {
  std::vector<RecipientResult> recipients;
  std::string summary;  // e.g. "250 2.0.0 Ok: queued as X" from the next hop, for logs
};

class GrowingBody;

struct DeliveryRequest {
  const core::Envelope* envelope = nullptr;
  std::vector<std::string> recipients;  // this copy's recipients
  std::string_view prefix;              // trace headers prepended to the body
  const core::MessageBody* body = nullptr;
  std::string id;  // mailseal's message id, for logs
  // Set when `body` is still being written (growing->body()); only for a next hop whose
  // takes_growing_body() is true.
  const GrowingBody* growing = nullptr;
};

class NextHop {
 public:
  virtual ~NextHop() = default;
  virtual net::awaitable<DeliveryResult> deliver(const DeliveryRequest& request) = 0;
  virtual std::string describe() const = 0;  // "smtp 127.0.0.1:25", for logs
  // True when deliver() can send a body while it is still written (DeliveryRequest::
  // growing): SMTP and LMTP can, since a transaction dropped before the final dot
  // delivers nothing; a Maildir file cannot be taken back once renamed into new/.
  virtual bool takes_growing_body() const { return false; }
};

// `hostname` is what mailseal calls itself (EHLO, Maildir file names); `dns` is used by
// kind "mx" (throws std::runtime_error when it cannot be applied).
std::unique_ptr<NextHop> make_next_hop(const core::NextHopConfig& config, std::string hostname,
                                       const core::DnsConfig& dns);

// Every recipient of `request` gets the same reply (connection failures etc.).
DeliveryResult all_recipients(const DeliveryRequest& request, const smtp::Reply& reply);

}  // namespace mailseal::delivery
