// Proxy mode (the "target" of a message): run the side's filter (seal or open) on the
// crypto pool, hand each resulting copy to the next hop, and turn the per-recipient
// results into the one reply the client gets. Nothing is answered 250 that the next hop
// did not accept.
#pragma once

#include <memory>
#include <string>

#include "core/message_filter.h"
#include "delivery/next_hop.h"
#include "net/asio.h"

namespace mailseal::server {

struct RelayOutcome {
  smtp::Reply reply;
  std::string filter_summary;
  std::string next_hop_summary;
};

class Relay {
 public:
  // filter may be null (plain relay). crypto_pool runs filters off the I/O threads.
  Relay(std::unique_ptr<delivery::NextHop> next_hop, core::MessageFilter* filter,
        net::asio::thread_pool& crypto_pool);

  net::awaitable<RelayOutcome> relay(const core::Envelope& envelope, const core::ClientInfo& client,
                                     const core::MessageBody& body, std::string prefix,
                                     std::string id);
  core::MessageFilter* filter() const { return filter_; }
  std::string describe() const { return next_hop_->describe(); }

 private:
  std::unique_ptr<delivery::NextHop> next_hop_;
  core::MessageFilter* filter_;
  net::asio::thread_pool& pool_;
};

// Folds per-recipient next-hop results into one reply (see docs/ARCHITECTURE.md,
// "Proxy mode replies"). Exposed for unit tests.
smtp::Reply aggregate_replies(const std::vector<delivery::RecipientResult>& results,
                              const std::string& id, const std::string& summary);

}  // namespace mailseal::server
