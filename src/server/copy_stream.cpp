// CopyStream: announced copies, delivered in order on the connection's strand.
#include "server/copy_stream.h"

#include <spdlog/spdlog.h>

namespace mailseal::server {

CopyStream::CopyStream(net::asio::any_io_executor strand)
    : strand_(strand), announced_(strand), done_event_(strand) {}

void CopyStream::started(const std::vector<std::string>& recipients, core::MessageBody& body) {
  auto copy = std::unique_ptr<Copy>(new Copy{recipients, delivery::GrowingBody(body, strand_)});
  {
    std::lock_guard lock(mutex_);
    copies_.push_back(std::move(copy));
  }
  announced_.notify();
}

void CopyStream::filter_returned(bool whole) {
  {
    std::lock_guard lock(mutex_);
    returned_ = true;
    for (auto& c : copies_) c->growing.finish(whole);
  }
  announced_.notify();
}

net::awaitable<void> CopyStream::deliver(delivery::NextHop& hop, const core::Envelope& envelope,
                                         std::string prefix, std::string id) {
  std::size_t next = 0;
  while (true) {
    Copy* copy = nullptr;
    bool returned = false;
    {
      std::lock_guard lock(mutex_);
      if (next < copies_.size()) copy = copies_[next].get();
      returned = returned_;
    }
    if (!copy && returned) break;
    if (!copy) {
      co_await announced_.wait();
      continue;
    }
    ++next;
    if (copy->growing.failed()) continue;  // refused before its turn: never sent
    delivery::DeliveryRequest req{&envelope, copy->recipients, prefix, &copy->growing.body(),
                                  id,        &copy->growing};
    try {
      delivery::DeliveryResult r = co_await hop.deliver(req);
      sent_.push_back(Sent{&copy->growing.body(), std::move(r)});
    } catch (const std::exception& e) {
      // deliver() reports failures as replies; anything thrown is a bug: the copy counts
      // as not delivered (the relay answers 451) rather than ending the coroutine silently.
      spdlog::error("msg id={} streamed delivery failed: {}", id, e.what());
      sent_.push_back(
          Sent{&copy->growing.body(),
               delivery::all_recipients(req, smtp::make_reply(451, "4.3.0", "Internal error"))});
    }
  }
  done_ = true;
  done_event_.notify();
}

net::awaitable<void> CopyStream::finished() const {
  while (!done_) co_await done_event_.wait();
}

bool CopyStream::announced(const core::MessageBody& body) const {
  std::lock_guard lock(mutex_);
  for (const auto& c : copies_)
    if (c->growing.body().same_bytes(body)) return true;
  return false;
}

}  // namespace mailseal::server
