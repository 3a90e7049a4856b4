// DiscoveryCache (see discovery_cache.h).
#include "keys/discovery_cache.h"

#include <algorithm>
#include <ctime>

namespace mailseal::keys {
namespace {

std::int64_t wall_clock() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace

const char* to_string(DiscoveryEntry::State s) {
  switch (s) {
    case DiscoveryEntry::State::found:
      return "found";
    case DiscoveryEntry::State::not_found:
      return "not found";
    case DiscoveryEntry::State::failed:
      return "failed";
  }
  return "?";
}

DiscoveryCache::DiscoveryCache(DiscoveryLimits limits, Clock now,
                               std::chrono::milliseconds wait_limit)
    : limits_(limits), now_(now ? std::move(now) : wall_clock), wait_limit_(wait_limit) {}

std::optional<DiscoveryEntry> DiscoveryCache::fresh(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  const std::int64_t t = now_();
  // A clock set back before the fetch makes the entry stale too: its age is unknown.
  if (t >= it->second.expires || t < it->second.fetched) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

std::optional<DiscoveryEntry> DiscoveryCache::get(const std::string& key) {
  std::lock_guard lock(mu_);
  return fresh(key);
}

void DiscoveryCache::make_room() {
  if (entries_.size() < limits_.max_entries) return;
  const std::int64_t t = now_();
  std::erase_if(entries_, [t](const auto& kv) { return t >= kv.second.expires; });
  while (!entries_.empty() && entries_.size() >= limits_.max_entries) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    entries_.erase(oldest);
  }
}

DiscoveryEntry DiscoveryCache::put(const std::string& key, DiscoveryEntry e) {
  e.fetched = now_();
  std::chrono::seconds ttl = limits_.failure_ttl;
  if (e.state == DiscoveryEntry::State::found) ttl = limits_.positive_ttl;
  if (e.state == DiscoveryEntry::State::not_found) ttl = limits_.negative_ttl;
  e.expires = e.fetched + ttl.count();
  std::lock_guard lock(mu_);
  if (limits_.max_entries == 0 || ttl.count() <= 0) return e;  // caching turned off
  entries_.erase(key);
  make_room();
  entries_.emplace(key, e);
  return e;
}

DiscoveryEntry DiscoveryCache::lookup(const std::string& key,
                                      const std::function<DiscoveryEntry()>& fetch, bool& cached) {
  {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + wait_limit_;
    while (true) {
      if (auto e = fresh(key)) {
        cached = true;
        return *e;
      }
      if (!in_flight_.count(key)) break;
      // Someone is asking the network for this very key: wait for the answer rather than
      // hit a dead server a second time.
      if (done_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    in_flight_.insert(key);
  }
  cached = false;
  DiscoveryEntry e;
  try {
    e = fetch();
  } catch (...) {
    std::lock_guard lock(mu_);
    in_flight_.erase(key);
    done_.notify_all();
    throw;
  }
  e = put(key, std::move(e));
  std::lock_guard lock(mu_);
  in_flight_.erase(key);
  done_.notify_all();
  return e;
}

void DiscoveryCache::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

std::size_t DiscoveryCache::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace mailseal::keys
