// Delivery status notifications (RFC 3464 multipart/report, RFC 3463 status codes):
// "failed" when recipients bounced or the message expired, "delayed" once after the
// warning delay. A DSN carries the original's headers (text/rfc822-headers), never its
// body: for outbound mail those are the sealed copy's outer headers, for inbound mail
// nothing decrypted leaves the LAN this way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mailseal::queue {

struct DsnRecipient {
  std::string address;
  bool failed = true;      // false: delayed (still being tried)
  std::string last_reply;  // "550 5.1.1 User unknown" (the next hop's words)
  std::string remote_mta;  // the next hop that said it, if known
};

struct DsnInput {
  std::string reporting_mta;  // our hostname
  std::string original_id;    // queue id of the message reported on
  std::string original_sender;
  std::int64_t arrival = 0;
  std::int64_t now = 0;
  std::string dsn_message_id;  // for the DSN's Message-ID
  std::vector<DsnRecipient> recipients;
  std::string original_headers;  // header block of the original, CRLF lines
};

// The complete DSN message (headers and body, CRLF line ends).
std::string build_dsn(const DsnInput& input);

// The status code a DSN gives for a reply: its enhanced code when it has one, else one
// from the reply code class (RFC 3463 section 2).
std::string status_of(const std::string& reply);

// The header block of a message (up to the first empty line), at most max_bytes.
std::string header_block(const std::string& message_start, std::size_t max_bytes = 64 * 1024);

}  // namespace mailseal::queue
