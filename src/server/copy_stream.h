// Proxy mode, large messages: the copies a filter announces (core::CopyListener) are sent
// to the next hop while the filter, on the crypto pool, is still sealing them, so a 100 MB
// copy is not first written whole to a file and only then sent. One coroutine on the
// connection's strand delivers the announced copies one after the other; each waits for
// its bytes (delivery::GrowingBody) and sends its final dot only once the filter has
// returned without a refusal. After a refusal every announced copy is dropped before the
// final dot, so the next hop delivers nothing and the client gets the filter's reply, as
// when nothing was streamed.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/message_filter.h"
#include "delivery/growing_body.h"
#include "delivery/next_hop.h"
#include "net/asio.h"
#include "net/strand_event.h"

namespace mailseal::server {

class CopyStream : public core::CopyListener {
 public:
  explicit CopyStream(net::asio::any_io_executor strand);

  // The filter's thread.
  void started(const std::vector<std::string>& recipients, core::MessageBody& body) override;

  // Any thread, once the filter has returned: its copies are whole (true) or refused.
  void filter_returned(bool whole);

  // On the strand: delivers every announced copy until the filter has returned and the
  // last one is done. Start it before the filter runs; co_await finished() afterwards.
  net::awaitable<void> deliver(delivery::NextHop& hop, const core::Envelope& envelope,
                               std::string prefix, std::string id);
  net::awaitable<void> finished() const;

  struct Sent {
    const core::MessageBody* body;  // whole once finished() returned
    delivery::DeliveryResult result;
  };
  // After finished(): what was delivered, in order.
  const std::vector<Sent>& sent() const { return sent_; }
  // After finished(): true when `body` is one of the announced copies.
  bool announced(const core::MessageBody& body) const;

 private:
  struct Copy {
    std::vector<std::string> recipients;
    delivery::GrowingBody growing;
  };

  net::asio::any_io_executor strand_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Copy>> copies_;  // stable addresses: the sender holds them
  bool returned_ = false;
  net::StrandEvent announced_;  // a copy was started, or the filter returned
  bool done_ = false;           // deliver() ended (strand only)
  net::StrandEvent done_event_;
  std::vector<Sent> sent_;
};

}  // namespace mailseal::server
