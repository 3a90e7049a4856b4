// KeyCache: the parsed-key cache of KeyStore (see docs/KEYS.md, "Key cache").
//
// Decoding a DER certificate or PKCS#8 key through OpenSSL 3's decoders costs far more
// than the RSA operation it is used for, and a freshly parsed RSA key has no blinding
// state yet; so the store keeps what it parsed (X509, EVP_PKEY, OpenPGP bytes) and hands
// out shared references (X509_up_ref / EVP_PKEY_up_ref: OpenSSL 3 objects may be used by
// several threads at once as long as nobody modifies them, openssl-threads(7)).
//
// Correctness rules:
// * An entry is tagged with the store generation read *before* its rows were read from
//   the database; a writer (Writer::commit, reseal_all) or a change seen through the
//   connection's change counter (SQLite's PRAGMA data_version, PostgreSQL's generation
//   row: another process or node, e.g. `mailseal keys import`) bumps the
//   generation and empties the cache, so an entry read before the change is never used
//   after it (a put with an old generation is dropped).
// * Entries hold all rows for an address whatever their dates; the caller filters by
//   validity against its clock on every hit, so time-based expiry needs no invalidation.
// * Entries live at most `ttl` seconds (by the same injected clock; a clock that went
//   backwards counts as expired) and at most `capacity` per table (least recently used
//   goes first), so nothing is kept indefinitely and memory stays bounded.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace mailseal::keys {

// One table of the cache: string key -> immutable shared value. Thread-safe.
template <class V>
class LruTable {
 public:
  LruTable(std::size_t capacity, std::int64_t ttl) : capacity_(capacity), ttl_(ttl) {}

  std::shared_ptr<const V> get(const std::string& key, std::uint64_t generation, std::int64_t now) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    Node& n = *it->second;
    if (n.generation != generation || now < n.inserted || now - n.inserted >= ttl_) {
      order_.erase(it->second);
      map_.erase(it);
      return nullptr;
    }
    order_.splice(order_.begin(), order_, it->second);  // most recently used first
    return n.value;
  }

  // Stores `value` unless the generation has moved on since the caller read it.
  void put(const std::string& key, std::uint64_t generation,
           const std::atomic<std::uint64_t>& current, std::int64_t now,
           std::shared_ptr<const V> value) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mu_);
    if (generation != current.load(std::memory_order_acquire)) return;
    if (auto it = map_.find(key); it != map_.end()) {
      order_.erase(it->second);
      map_.erase(it);
    }
    order_.push_front(Node{key, generation, now, std::move(value)});
    map_.emplace(key, order_.begin());
    while (map_.size() > capacity_) {
      map_.erase(order_.back().key);
      order_.pop_back();
    }
  }

  void clear() {
    std::list<Node> old;  // values are released after the lock is dropped
    {
      std::lock_guard lock(mu_);
      map_.clear();
      old.swap(order_);
    }
  }

  std::size_t size() {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  struct Node {
    std::string key;
    std::uint64_t generation;
    std::int64_t inserted;
    std::shared_ptr<const V> value;
  };
  const std::size_t capacity_;
  const std::int64_t ttl_;
  std::mutex mu_;
  std::list<Node> order_;
  std::unordered_map<std::string, typename std::list<Node>::iterator> map_;
};

struct KeyCacheLimits {
  std::size_t capacity = 4096;  // entries per table (addresses; unsealed keys)
  std::int64_t ttl = 60;        // seconds an entry is used before it is read again
};

}  // namespace mailseal::keys
