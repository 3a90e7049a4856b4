// DiscoveryCache: what the discovery sources (WKD, DANE) last learned about an address,
// shared by them, so a key published on the Internet is fetched once per TTL and not once
// per message (RCPT and DATA ask again; so does every message to the same recipient).
//
// Three kinds of entry, each with its own lifetime:
//   found      the raw answer (key bytes, where they came from, when):   positive_ttl
//   not found  the source answered and had nothing usable:               negative_ttl
//   failed     the source did not answer (timeout, refused, SERVFAIL):   failure_ttl
// A failure is cached too: a dead server or resolver then costs at most one timeout per
// address per failure_ttl, never one per message. Only raw bytes are kept; the sources
// apply the rules of a usable key (dates, user IDs) again on every lookup, so a cached key
// that expires in the meantime is not used.
//
// Concurrent lookups of the same key wait for the one in flight (single flight) instead of
// asking the network again, for at most `wait_limit`; then they ask themselves.
// Thread-safe. The clock is injected (seconds since the epoch) so TTLs are unit-tested.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mailseal::keys {

struct DiscoveryLimits {
  std::chrono::seconds positive_ttl{3600};
  std::chrono::seconds negative_ttl{600};
  std::chrono::seconds failure_ttl{60};
  std::size_t max_entries = 10000;
};

struct DiscoveryEntry {
  enum class State { found, not_found, failed };
  State state = State::failed;     // a forgotten branch must not look like an answer
  std::vector<std::string> blobs;  // raw key material as fetched (found only)
  std::string origin;              // URL or DNS name the answer came from
  std::string detail;              // why not found / why it failed, one line
  std::vector<std::string> steps;  // what was asked and answered, in order (for reports)
  std::int64_t fetched = 0;        // seconds since the epoch
  std::int64_t expires = 0;        // set by the cache from the TTL of the state
};

const char* to_string(DiscoveryEntry::State s);

class DiscoveryCache {
 public:
  using Clock = std::function<std::int64_t()>;  // seconds since the epoch

  explicit DiscoveryCache(DiscoveryLimits limits, Clock now = {},
                          std::chrono::milliseconds wait_limit = std::chrono::seconds(30));

  // The entry for `key` when still fresh.
  std::optional<DiscoveryEntry> get(const std::string& key);
  // Stores `e` (fetched = now, expires from its state's TTL) and returns it as stored.
  DiscoveryEntry put(const std::string& key, DiscoveryEntry e);

  // A fresh entry, or the result of `fetch` (stored). `cached` says which.
  DiscoveryEntry lookup(const std::string& key, const std::function<DiscoveryEntry()>& fetch,
                        bool& cached);

  void clear();
  std::size_t size();
  const DiscoveryLimits& limits() const { return limits_; }
  std::int64_t now() const { return now_(); }

 private:
  std::optional<DiscoveryEntry> fresh(const std::string& key);  // mu_ held
  void make_room();                                             // mu_ held

  DiscoveryLimits limits_;
  Clock now_;
  std::chrono::milliseconds wait_limit_;
  std::mutex mu_;
  std::condition_variable done_;
  std::map<std::string, DiscoveryEntry> entries_;  // guarded by mu_
  std::set<std::string> in_flight_;                // guarded by mu_
};

}  // namespace mailseal::keys
