// StrandEvent: a steady_timer that never expires, cancelled on the strand to wake.
#include "net/strand_event.h"

namespace mailseal::net {

StrandEvent::StrandEvent(asio::any_io_executor strand)
    : timer_(std::make_shared<asio::steady_timer>(std::move(strand))) {}

void StrandEvent::notify() const {
  asio::post(timer_->get_executor(), [timer = timer_] { timer->cancel(); });
}

awaitable<void> StrandEvent::wait() const {
  timer_->expires_at(asio::steady_timer::time_point::max());
  boost::system::error_code ignored;  // operation_aborted: the wake-up
  co_await timer_->async_wait(asio::redirect_error(use_awaitable, ignored));
}

}  // namespace mailseal::net
