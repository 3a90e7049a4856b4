// DSN: the RFC 3464 structure that mail clients and MTAs parse.
#include "queue/dsn.h"

#include <gtest/gtest.h>

namespace mailseal::queue {
namespace {

DsnInput input() {
  DsnInput in;
  in.reporting_mta = "gw.example.org";
  in.original_id = "Q1";
  in.original_sender = "alice@example.org";
  in.arrival = 1700000000;
  in.now = 1700000100;
  in.dsn_message_id = "Q1-B1";
  in.original_headers = "From: alice@example.org\r\nSubject: hello\r\n";
  return in;
}

TEST(Dsn, FailedRecipientQuotesTheRemoteReply) {
  auto in = input();
  in.recipients.push_back({"bob@example.net", true, "550 5.1.1 <bob@example.net>: User unknown",
                           "smtp mx.example.net:25"});
  std::string m = build_dsn(in);
  EXPECT_NE(m.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"),
            std::string::npos);
  EXPECT_NE(m.find("Content-Type: message/delivery-status\r\n"), std::string::npos);
  EXPECT_NE(m.find("Reporting-MTA: dns; gw.example.org\r\n"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n"
                   "Status: 5.1.1\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: User unknown\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.org\r\n"
                   "Subject: hello\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Auto-Submitted: auto-replied"), std::string::npos);
  EXPECT_EQ(m.find("\n\n"), std::string::npos) << "bare LF line ends";
}

TEST(Dsn, DelayedRecipientHasTransientStatus) {
  auto in = input();
  in.recipients.push_back({"bob@example.net", false, "451 4.4.1 Next hop not reachable", ""});
  std::string m = build_dsn(in);
  EXPECT_NE(m.find("Action: delayed\r\nStatus: 4.4.1\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: Delayed Mail"), std::string::npos);
}

TEST(Dsn, RemoteReplyCannotInjectHeaderLines) {
  auto in = input();
  in.recipients.push_back({"bob@example.net", true, "550 5.0.0 x\r\nBcc: victim@example.com", ""});
  std::string m = build_dsn(in);
  EXPECT_EQ(m.find("\r\nBcc: victim"), std::string::npos);
}

TEST(Dsn, StatusFromReply) {
  EXPECT_EQ(status_of("550 5.7.1 no"), "5.7.1");
  EXPECT_EQ(status_of("554 Transaction failed"), "5.0.0");
  EXPECT_EQ(status_of("421 closing"), "4.0.0");
  EXPECT_EQ(status_of("450 4.4.7 Delivery time expired"), "4.4.7");
}

TEST(Dsn, HeaderBlockStopsAtTheBody) {
  EXPECT_EQ(header_block("A: 1\r\nB: 2\r\n\r\nsecret body\r\n"), "A: 1\r\nB: 2\r\n");
  EXPECT_EQ(header_block("A: 1\r\nB: 2222\r\n", 10), "A: 1\r\n");
}

}  // namespace
}  // namespace mailseal::queue
