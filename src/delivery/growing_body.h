// A copy that a filter is still writing on the crypto pool while the relay already sends
// it to the next hop (core::CopyListener): the sending coroutine reads what is there and
// waits here for more, for the end, or for the filter giving the copy up (then the
// transaction is dropped before the final dot and the next hop delivers nothing).
#pragma once

#include <atomic>
#include <cstddef>

#include "core/message_body.h"
#include "net/asio.h"
#include "net/strand_event.h"

namespace mailseal::delivery {

class GrowingBody {
 public:
  // `writer` is the filter's copy: call this on the writing thread (from
  // CopyListener::started), `strand` is where the sending coroutine runs.
  GrowingBody(core::MessageBody& writer, net::asio::any_io_executor strand);
  GrowingBody(const GrowingBody&) = delete;
  GrowingBody& operator=(const GrowingBody&) = delete;

  const core::MessageBody& body() const { return view_; }

  // Any thread, once the filter has returned: the copy is whole (true), or the message
  // was refused and the copy must not be delivered (false).
  void finish(bool whole);
  bool failed() const { return state_.load(std::memory_order_acquire) == kFailed; }

  enum class Next { more, end, failed };
  // On the strand: `more` when the body holds more than `offset` bytes, `end` when it is
  // whole and holds exactly `offset`, `failed` when the filter gave it up.
  net::awaitable<Next> wait(std::size_t offset) const;
  // On the strand: waits until the filter has returned; true when the copy is whole.
  net::awaitable<bool> finished() const;

 private:
  static constexpr int kWriting = 0, kWhole = 1, kFailed = 2;
  core::MessageBody view_;
  net::StrandEvent event_;
  std::atomic<int> state_{kWriting};
};

}  // namespace mailseal::delivery
