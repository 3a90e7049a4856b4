// The delivery scheduler of queue mode: keeps an in-memory index of active/ (next attempt
// time per message), starts attempts when they are due within the global and the
// per-destination concurrency limits, records per-recipient results in the queue file,
// backs off exponentially, warns once after `warn_after`, gives up after `lifetime`, and
// turns permanent failures into a DSN to the sender (never to the null sender).
// All index state lives on one strand; attempts run on the I/O executor and blocking
// file work (open, pwrite, fsync) on the blocking pool.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "delivery/next_hop.h"
#include "net/asio.h"
#include "queue/spool.h"

namespace mailseal::queue {

// Where a lane's messages go.
struct LaneRoute {
  delivery::NextHop* hop = nullptr;
  bool per_domain = false;  // mx: each recipient domain is its own destination
};

// Result of one attempt for the queue file (pure; unit-tested).
struct AttemptPlan {
  bool finished = false;          // no recipient pending: remove the file
  bool send_failure_dsn = false;  // some recipients failed and the sender is not null
  bool send_delay_dsn = false;    // first warning
  std::int64_t next_attempt = 0;  // when not finished
};
// Back-off before attempt number `attempts` + 1: retry_min * 2^(attempts-1), capped.
std::int64_t backoff_seconds(const core::QueueConfig& config, int attempts);
// After the results of an attempt were written into `header` (attempts already counted):
// expire pending recipients past the lifetime and decide what happens next.
AttemptPlan plan_after_attempt(const core::QueueConfig& config, QueueHeader& header,
                               std::int64_t now, std::vector<std::size_t>& expired);

class Scheduler {
 public:
  Scheduler(net::asio::io_context& io, Spool& spool, const core::QueueConfig& config,
            std::array<LaneRoute, 2> routes, net::asio::thread_pool& blocking,
            std::string hostname);

  // Loads active/ and starts the loop.
  void start();
  // Messages just enqueued (any thread): tried at once.
  void submit(const std::vector<std::string>& ids);
  // Re-reads active/ (after `mailseal queue` changed it; any thread).
  void rescan();
  // No new attempts; attempts in flight go on until the io_context stops.
  void stop();

 private:
  struct Entry {
    std::int64_t next_attempt = 0;
    bool in_flight = false;
  };
  struct Destination {
    std::size_t used = 0;
    std::vector<std::shared_ptr<net::asio::steady_timer>> waiters;
  };

  struct Work;  // one attempt's open file, groups and results (kept off the coroutine frame)

  net::awaitable<void> loop();
  net::awaitable<void> attempt(std::string id);
  // The steps of an attempt; only the delivery itself is a coroutine.
  bool open_attempt(const std::string& id, Work& work);  // blocking pool; false: gone
  net::awaitable<delivery::DeliveryResult> deliver_group(Work& work, std::size_t group);
  bool record_attempt(Work& work, std::int64_t& next);  // blocking pool; false: done
  bool all_delivered(const Work& work) const;
  void remove_delivered(Work& work);  // every recipient accepted: unlink at once
  net::awaitable<void> acquire(const std::string& destination);
  void release(const std::string& destination);
  void load_from_disk();                                                     // on the strand
  void finish(const std::string& id, bool keep, std::int64_t next_attempt);  // on the strand
  std::string destination_of(Lane lane, const std::string& recipient) const;
  bool write_dsn(const QueueHeader& header, const std::vector<std::size_t>& which, bool failed,
                 const core::MessageBody& body);

  net::asio::io_context& io_;
  net::asio::strand<net::asio::io_context::executor_type> strand_;
  Spool& spool_;
  core::QueueConfig config_;
  std::array<LaneRoute, 2> routes_;
  net::asio::thread_pool& blocking_;
  std::string hostname_;
  net::asio::steady_timer wake_;
  bool stopped_ = false;
  std::map<std::string, Entry> entries_;
  std::set<std::pair<std::int64_t, std::string>> due_;
  std::map<std::string, Destination> destinations_;
  std::size_t in_flight_ = 0;
};

}  // namespace mailseal::queue
