// One queued message is one file: a small text header (envelope, schedule, one state byte
// and one fixed-width reply slot per recipient) followed by the message bytes. Delivery
// progress is written in place (pwrite of a state byte or a slot, then fdatasync), so a
// crash loses at most the progress of the attempt in flight: such recipients are tried
// again (a duplicate, never a loss). The layout is Postfix's idea (a queue file whose
// recipient records are marked done in place) in a text form an operator can read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/message_body.h"
#include "smtp/reply.h"

namespace mailseal::queue {

// Which next hop a queued message goes to: outbound = the inside side's next hop (the
// Internet), inbound = the outside side's (the organisation's mail server).
enum class Lane { outbound, inbound };
std::string_view lane_name(Lane lane);
Lane other_lane(Lane lane);

// pending: to be tried; delivered; failed: permanently, the sender not yet told;
// reported: failed and the DSN is queued (or the sender was null).
enum class RecipientState : char { pending = 'P', delivered = 'D', failed = 'F', reported = 'R' };

struct QueuedRecipient {
  std::string address;
  RecipientState state = RecipientState::pending;
  std::string last_reply;  // "451 4.4.1 text" of the last attempt, empty before any
  std::size_t state_offset = 0;
  std::size_t reply_offset = 0;
};

struct QueueHeader {
  std::string id;
  Lane lane = Lane::outbound;
  std::int64_t arrival = 0;  // seconds since the epoch
  std::string sender;        // empty = null sender (a DSN must never go back to it)
  bool body_8bit = false;
  bool smtputf8 = false;
  int attempts = 0;
  std::int64_t next_attempt = 0;
  bool warned = false;  // a "delayed" DSN was sent
  std::vector<QueuedRecipient> recipients;
  std::size_t schedule_offset = 0;
  std::size_t body_offset = 0;
  std::size_t body_size = 0;

  bool has_pending() const;
  bool has_state(RecipientState state) const;
};

// What the relay hands to the spool: one copy of a message for some recipients.
struct NewMessage {
  std::string id;
  Lane lane = Lane::outbound;
  std::string sender;
  bool body_8bit = false;
  bool smtputf8 = false;
  std::vector<std::string> recipients;
  std::string prefix;  // trace headers written before the body
  const core::MessageBody* body = nullptr;
  std::string owned_body;  // used when body is null (a DSN built in memory)
};

// The width of a recipient's reply slot; longer replies are cut.
inline constexpr std::size_t kReplySlot = 400;

// Creates `path` (must not exist), writes the whole file and fsyncs it. The caller
// renames it into place and fsyncs the directory.
std::error_code write_queue_file(const std::filesystem::path& path, const NewMessage& message,
                                 std::int64_t now);

// Parses the header of an open queue file; nullopt with `error` set if it is damaged.
std::optional<QueueHeader> read_queue_header(int fd, std::string& error);

// An open queue file for the delivery of one attempt (or an operator command).
class QueueFile {
 public:
  static std::optional<QueueFile> open(const std::filesystem::path& path, std::string& error);
  QueueFile(QueueFile&&) noexcept;
  QueueFile& operator=(QueueFile&&) noexcept;
  ~QueueFile();

  const QueueHeader& header() const { return header_; }
  // The message bytes (trace prefix included) as a read-only body over the file.
  core::MessageBody body() const;

  // In-place updates; none is durable until sync().
  std::error_code set_recipient(std::size_t index, RecipientState state, const std::string& reply);
  std::error_code set_schedule(int attempts, std::int64_t next_attempt, bool warned);
  std::error_code sync();

 private:
  QueueFile(int fd, QueueHeader header) : fd_(fd), header_(std::move(header)) {}
  int fd_ = -1;
  QueueHeader header_;
};

std::string format_reply(const smtp::Reply& reply);

}  // namespace mailseal::queue
