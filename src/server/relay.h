// Proxy mode (the "target" of a message): run the side's filter (seal or open) on the
// crypto pool, hand each resulting copy to the next hop, and turn the per-recipient
// results into the one reply the client gets. Nothing is answered 250 that the next hop
// did not accept, or that is not safely in the spool: when the next hop takes some
// recipients and refuses others after mailseal accepted them at RCPT, the refused ones
// are queued (retried, and bounced with a DSN if they keep failing) rather than lost.
#pragma once

#include <memory>
#include <string>

#include "core/message_filter.h"
#include "delivery/next_hop.h"
#include "net/asio.h"
#include "queue/scheduler.h"
#include "queue/spool.h"

namespace mailseal::server {

struct RelayOutcome {
  smtp::Reply reply;
  std::string filter_summary;
  std::string next_hop_summary;
};

// Queue mode: where a side's accepted copies are written instead of being delivered now.
struct QueueTarget {
  queue::Spool* spool = nullptr;
  queue::Scheduler* scheduler = nullptr;
  queue::Lane lane = queue::Lane::outbound;
};

class Relay {
 public:
  // filter may be null (plain relay). crypto_pool runs filters off the I/O threads (and,
  // in queue mode, the fsyncs of the spool).
  // spool: the side's lane of the queue. queue_mode: every copy goes there (the side's
  // mode = "queue"); otherwise only recipients refused after a partial delivery.
  Relay(std::unique_ptr<delivery::NextHop> next_hop, core::MessageFilter* filter,
        net::asio::thread_pool& crypto_pool, QueueTarget spool, bool queue_mode);

  net::awaitable<RelayOutcome> relay(const core::Envelope& envelope, const core::ClientInfo& client,
                                     const core::MessageBody& body, std::string prefix,
                                     std::string id);
  core::MessageFilter* filter() const { return filter_; }
  // The crypto pool: also where RCPT-time key lookups run (they may wait on the network).
  net::asio::thread_pool& pool() const { return pool_; }
  std::string describe() const;

 private:
  // Queue mode: write the copies durably, answer 250 with the queue ids (or 452 4.3.1).
  net::awaitable<smtp::Reply> enqueue(const core::Envelope& envelope,
                                      std::vector<queue::NewMessage> messages,
                                      const std::string& id);
  // Writes the copies durably (ids `id`, or `id`.N) on the pool and hands them to the
  // scheduler; the ids, or empty and `ec` on failure (nothing is left written then).
  net::awaitable<std::vector<std::string>> spool_copies(const core::Envelope& envelope,
                                                        std::vector<queue::NewMessage> messages,
                                                        const std::string& id, std::error_code& ec);

  std::unique_ptr<delivery::NextHop> next_hop_;
  core::MessageFilter* filter_;
  net::asio::thread_pool& pool_;
  QueueTarget spool_;
  bool queue_mode_;
};

// Folds per-recipient next-hop results into one reply (see docs/ARCHITECTURE.md,
// "Proxy mode replies"). Exposed for unit tests.
smtp::Reply aggregate_replies(const std::vector<delivery::RecipientResult>& results,
                              const std::string& id, const std::string& summary);

}  // namespace mailseal::server
