// build_dsn: RFC 3464 report with a human-readable part, the machine-readable
// message/delivery-status part and the original's headers.
#include "queue/dsn.h"

#include <fmt/format.h>

#include "smtp/received.h"
#include "util/strings.h"

namespace mailseal::queue {

namespace {

bool is_status(std::string_view s) {
  // class.subject.detail: [245].1-3 digits.1-3 digits
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  int dots = 0;
  for (std::size_t i = 2; i < s.size(); ++i) {
    if (s[i] == '.')
      ++dots;
    else if (s[i] < '0' || s[i] > '9')
      return false;
  }
  return dots == 1 && s.back() != '.';
}

// A header field value must not carry CR/LF from a remote reply.
std::string one_line(std::string_view s) {
  return util::printable(s, 900);
}

}  // namespace

std::string status_of(const std::string& reply) {
  auto parts = util::split(reply, ' ');
  if (parts.size() >= 2 && is_status(parts[1])) return std::string(parts[1]);
  if (!reply.empty() && reply[0] == '2') return "2.0.0";
  if (!reply.empty() && reply[0] == '5') return "5.0.0";
  return "4.0.0";
}

std::string header_block(const std::string& message_start, std::size_t max_bytes) {
  auto end = message_start.find("\r\n\r\n");
  std::string h =
      message_start.substr(0, end == std::string::npos ? message_start.size() : end + 2);
  if (h.size() > max_bytes) {
    h.resize(max_bytes);
    auto last = h.rfind("\r\n");
    h.resize(last == std::string::npos ? 0 : last + 2);
  }
  return h;
}

std::string build_dsn(const DsnInput& in) {
  bool any_failed = false;
  for (const auto& r : in.recipients) any_failed |= r.failed;
  const std::string boundary = fmt::format("{}.{}/{}", in.original_id, in.now, in.reporting_mta);
  std::string m;
  m += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", in.reporting_mta);
  m += fmt::format("To: <{}>\r\n", in.original_sender);
  m += fmt::format("Subject: {}\r\n", any_failed ? "Undelivered Mail Returned to Sender"
                                                 : "Delayed Mail (still being retried)");
  m += fmt::format("Date: {}\r\n", smtp::rfc5322_date(in.now));
  m += fmt::format("Message-ID: <{}@{}>\r\n", in.dsn_message_id, in.reporting_mta);
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += fmt::format(
      "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n",
      boundary);
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += fmt::format(
      "--{}\r\nContent-Description: Notification\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
      boundary);
  m += fmt::format("This is the mail system at host {}.\r\n\r\n", in.reporting_mta);
  if (any_failed)
    m += "I'm sorry to have to inform you that your message could not\r\n"
         "be delivered to one or more recipients.\r\n\r\n";
  else
    m += "Your message could not be delivered yet. It will be retried;\r\n"
         "you do not need to send it again.\r\n\r\n";
  for (const auto& r : in.recipients)
    m += fmt::format("<{}>: {}{}\r\n", one_line(r.address), r.failed ? "" : "(delayed) ",
                     one_line(r.last_reply.empty() ? "no reply recorded" : r.last_reply));
  m += "\r\n";

  m += fmt::format(
      "--{}\r\nContent-Description: Delivery report\r\n"
      "Content-Type: message/delivery-status\r\n\r\n",
      boundary);
  m += fmt::format("Reporting-MTA: dns; {}\r\n", in.reporting_mta);
  m += fmt::format("X-Mailseal-Queue-ID: {}\r\n", in.original_id);
  m += fmt::format("Arrival-Date: {}\r\n", smtp::rfc5322_date(in.arrival));
  for (const auto& r : in.recipients) {
    m += "\r\n";
    m += fmt::format("Final-Recipient: rfc822; {}\r\n", one_line(r.address));
    m += fmt::format("Action: {}\r\n", r.failed ? "failed" : "delayed");
    std::string status = status_of(r.last_reply);
    // A delayed recipient has a transient status; a failed one keeps the reply's class
    // (a 4.x.x when it expired after transient failures, RFC 3464 2.3.4).
    if (!r.failed && status[0] != '4') status = "4.0.0";
    m += fmt::format("Status: {}\r\n", status);
    if (!r.remote_mta.empty()) m += fmt::format("Remote-MTA: dns; {}\r\n", one_line(r.remote_mta));
    if (!r.last_reply.empty())
      m += fmt::format("Diagnostic-Code: smtp; {}\r\n", one_line(r.last_reply));
    m += fmt::format("Last-Attempt-Date: {}\r\n", smtp::rfc5322_date(in.now));
  }
  m += "\r\n";

  m += fmt::format(
      "--{}\r\nContent-Description: Undelivered Message Headers\r\n"
      "Content-Type: text/rfc822-headers\r\n\r\n",
      boundary);
  m += in.original_headers;
  m += fmt::format("\r\n--{}--\r\n", boundary);
  return m;
}

}  // namespace mailseal::queue
