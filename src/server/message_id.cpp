// Message ids: 10 base-32 characters of microseconds since the epoch (sortable), then
// 3 of a process-wide sequence and 3 random ones, so ids stay unique across restarts
// and across several mailseal nodes.
#include <atomic>
#include <chrono>
#include <random>

#include "server/connection.h"

namespace mailseal::server {

std::string new_message_id() {
  static constexpr char kBase32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  static std::atomic<unsigned> sequence{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto us = static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  std::string id(16, '0');
  for (int i = 9; i >= 0; --i, us >>= 5) id[static_cast<std::size_t>(i)] = kBase32[us & 31];
  unsigned seq = sequence.fetch_add(1);
  for (int i = 12; i >= 10; --i, seq >>= 5) id[static_cast<std::size_t>(i)] = kBase32[seq & 31];
  auto r = rng();
  for (int i = 15; i >= 13; --i, r >>= 5) id[static_cast<std::size_t>(i)] = kBase32[r & 31];
  return id;
}

}  // namespace mailseal::server
