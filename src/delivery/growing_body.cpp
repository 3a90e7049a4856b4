// GrowingBody: a followed MessageBody plus the filter's verdict, awaited on a strand.
#include "delivery/growing_body.h"

namespace mailseal::delivery {

GrowingBody::GrowingBody(core::MessageBody& writer, net::asio::any_io_executor strand)
    : view_(writer.follow()), event_(std::move(strand)) {
  view_.on_growth([event = event_] { event.notify(); });
}

void GrowingBody::finish(bool whole) {
  state_.store(whole ? kWhole : kFailed, std::memory_order_release);
  event_.notify();
}

net::awaitable<GrowingBody::Next> GrowingBody::wait(std::size_t offset) const {
  while (true) {
    // The state first: once whole, every append happened before, so the size is final.
    int state = state_.load(std::memory_order_acquire);
    if (state == kFailed) co_return Next::failed;
    if (view_.size() > offset) co_return Next::more;
    if (state == kWhole) co_return Next::end;
    co_await event_.wait();
  }
}

net::awaitable<bool> GrowingBody::finished() const {
  Next next = Next::more;
  while (next == Next::more) next = co_await wait(view_.size());
  co_return next == Next::end;
}

}  // namespace mailseal::delivery
