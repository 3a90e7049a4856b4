// Wakes one coroutine that runs on a strand, from any thread: the crypto pool telling the
// connection that a copy grew or that the filter returned. The waiter checks its state,
// then calls wait() in the same strand step (no co_await in between); notify() is called
// after the state was changed. notify() runs on the strand too (posted), so it either
// comes before the check (which then sees the change) or finds the wait pending and ends
// it: no wake-up is lost.
#pragma once

#include <memory>

#include "net/asio.h"

namespace mailseal::net {

class StrandEvent {
 public:
  explicit StrandEvent(asio::any_io_executor strand);
  // Any thread; cheap when nobody waits.
  void notify() const;
  // On the strand only. Returns after a notify() that ran while it waited; one that ran
  // before is not remembered (the state check before the wait covers it).
  awaitable<void> wait() const;

 private:
  // Shared with the posted notifications, which may run after this object is gone.
  std::shared_ptr<asio::steady_timer> timer_;
};

}  // namespace mailseal::net
