// A filter transforms one received message before it is relayed: seal (outbound) and
// open (inbound) are filters. It may split the recipients into copies (an S/MIME copy,
// an OpenPGP copy, one copy per Bcc recipient) or refuse the whole message.
// Filters are pure with respect to I/O: they read the body and write new bodies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/envelope.h"
#include "core/message_body.h"
#include "smtp/reply.h"

namespace mailseal::core {

struct MessageCopy {
  std::vector<std::string> recipients;  // subset of the envelope recipients
  MessageBody body;
};

struct FilterResult {
  // Set: the message is refused with this reply (e.g. 554 5.7.x falsified) and nothing
  // is relayed. Unset: `copies` are relayed.
  std::optional<smtp::Reply> refusal;
  std::vector<MessageCopy> copies;
  std::string summary;  // for the per-message log line (verdict, formats), never content
};

// Told about each copy as soon as a filter starts writing it (on the filter's thread), so
// that the relay can send the copy to the next hop while it is still written: a 100 MB
// copy then does not wait in a file until its last byte is sealed. The listener takes
// body.follow(); the filter goes on appending to `body` and returns the copy in its
// FilterResult as usual. Only the filter's return says whether the copy is whole: after
// a refusal, an announced copy must not be delivered (the relay drops its next-hop
// transaction before the final dot).
class CopyListener {
 public:
  virtual ~CopyListener() = default;
  virtual void started(const std::vector<std::string>& recipients, MessageBody& body) = 0;
};

class MessageFilter {
 public:
  virtual ~MessageFilter() = default;
  // Called at RCPT time: a reply refuses this one recipient (e.g. 550 5.7.1 no
  // certificate and policy is `refuse`); nullopt accepts it.
  virtual std::optional<smtp::Reply> check_recipient(const Envelope& envelope,
                                                     const std::string& recipient) = 0;
  // Called after DATA, before relaying. `listener` (may be null) is told about copies as
  // they are started; a filter that does not stream its copies ignores it.
  virtual FilterResult process(const Envelope& envelope, const ClientInfo& client,
                               const MessageBody& body, CopyListener* listener) = 0;
};

}  // namespace mailseal::core
