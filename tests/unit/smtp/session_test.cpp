// Session state machine in memory: order of commands, limits, replies, events.
#include "smtp/session.h"

#include <gtest/gtest.h>

namespace mailseal::smtp {
namespace {

class FakePolicy : public SessionPolicy {
 public:
  std::optional<Reply> check_recipient(const core::ClientInfo&, const core::Envelope&,
                                       const std::string& rcpt) override {
    if (rcpt.ends_with("@refused.test")) return make_reply(550, "5.7.1", "no");
    return std::nullopt;
  }
  std::optional<Reply> check_connect(const core::ClientInfo& c) override {
    if (c.address == "192.0.2.66") return make_reply(554, "5.7.1", "go away");
    return std::nullopt;
  }
};

class SessionTest : public ::testing::Test {
 protected:
  SessionTest()
      : session_(options(), policy_, core::ClientInfo{"192.0.2.1", 1234, "", false, ""}) {}
  static SessionOptions options() {
    SessionOptions o;
    o.hostname = "gw.test";
    o.max_recipients = 2;
    o.max_errors = 3;
    o.max_message_size = 1000;
    return o;
  }
  // "250 2.1.0 Ok\r\n" -> "250 2.1.0"
  std::string line(std::string_view cmd) {
    auto s = session_.on_line(cmd);
    last_ = s;
    return s.output.substr(0, s.output.find(' ', 4));
  }
  FakePolicy policy_;
  Session session_;
  Step last_;
};

TEST_F(SessionTest, HappyPath) {
  EXPECT_EQ(session_.greet().output, "220 gw.test ESMTP mailseal\r\n");
  auto ehlo = session_.on_line("EHLO client.test");
  EXPECT_NE(ehlo.output.find("250-PIPELINING\r\n"), std::string::npos);
  EXPECT_NE(ehlo.output.find("250-SIZE 1000\r\n"), std::string::npos);
  EXPECT_NE(ehlo.output.find("250-SMTPUTF8\r\n"), std::string::npos);
  EXPECT_NE(ehlo.output.find("250 ENHANCEDSTATUSCODES\r\n"), std::string::npos);
  EXPECT_EQ(ehlo.output.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(line("MAIL FROM:<a@example.org> BODY=8BITMIME"), "250 2.1.0");
  EXPECT_EQ(line("RCPT TO:<b@example.net>"), "250 2.1.5");
  EXPECT_EQ(line("DATA"), "354 End");
  EXPECT_EQ(last_.next, Next::read_data);
  auto end = session_.on_data_end(DataFault::none, true);
  EXPECT_EQ(end.next, Next::deliver);
  EXPECT_TRUE(session_.envelope().body_8bit);
  EXPECT_EQ(session_.envelope().recipients.size(), 1u);
  auto done = session_.on_delivered(make_reply(250, "2.0.0", "Ok"));
  EXPECT_EQ(done.output, "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(session_.envelope().recipients.empty());
  EXPECT_EQ(line("MAIL FROM:<>"), "250 2.1.0");  // a new transaction may start
  EXPECT_EQ(line("QUIT"), "221 2.0.0");
  EXPECT_EQ(last_.next, Next::close);
}

TEST_F(SessionTest, OutOfSequence) {
  session_.greet();
  EXPECT_EQ(line("MAIL FROM:<a@b.org>"), "503 5.5.1");
  EXPECT_EQ(line("HELO x"), "250 gw.test\r\n");
  EXPECT_EQ(line("RCPT TO:<a@b.org>"), "503 5.5.1");
  EXPECT_EQ(line("DATA"), "503 5.5.1");
}

TEST_F(SessionTest, DataWithoutAcceptedRecipientIs554) {
  session_.greet();
  line("EHLO x");
  line("MAIL FROM:<a@b.org>");
  EXPECT_EQ(line("RCPT TO:<x@refused.test>"), "550 5.7.1");
  EXPECT_EQ(line("DATA"), "554 5.5.1");
}

TEST_F(SessionTest, RecipientLimit) {
  session_.greet();
  line("EHLO x");
  line("MAIL FROM:<a@b.org>");
  EXPECT_EQ(line("RCPT TO:<1@b.org>"), "250 2.1.5");
  EXPECT_EQ(line("RCPT TO:<2@b.org>"), "250 2.1.5");
  EXPECT_EQ(line("RCPT TO:<3@b.org>"), "452 4.5.3");
}

TEST_F(SessionTest, DeclaredSizeOverLimit) {
  session_.greet();
  line("EHLO x");
  EXPECT_EQ(line("MAIL FROM:<a@b.org> SIZE=1001"), "552 5.3.4");
  EXPECT_EQ(line("MAIL FROM:<a@b.org> SIZE=1000"), "250 2.1.0");
}

TEST_F(SessionTest, UnknownParametersAre555) {
  session_.greet();
  line("EHLO x");
  EXPECT_EQ(line("MAIL FROM:<a@b.org> RET=FULL"), "555 5.5.4");
  line("MAIL FROM:<a@b.org>");
  EXPECT_EQ(line("RCPT TO:<c@b.org> NOTIFY=NEVER"), "555 5.5.4");
}

TEST_F(SessionTest, TooManyErrorsCloses) {
  session_.greet();
  EXPECT_EQ(line("FOO"), "500 5.5.2");
  EXPECT_EQ(line("BAR"), "500 5.5.2");
  EXPECT_EQ(line("BAZ"), "500 5.5.2");
  auto s = session_.on_line("QUX");
  EXPECT_NE(s.output.find("421 4.7.0"), std::string::npos);
  EXPECT_EQ(s.next, Next::close);
}

TEST_F(SessionTest, NulAndNonAsciiInCommands) {
  session_.greet();
  EXPECT_EQ(line(std::string_view("NOOP\0x", 6)), "500 5.5.2");
  EXPECT_EQ(line("HELO h\xc3\xa9"), "500 5.5.2");
  line("EHLO x");
  EXPECT_EQ(line("MAIL FROM:<\xc3\xa9@b.org>"), "553 5.6.7");
  EXPECT_EQ(line("MAIL FROM:<\xc3\xa9@b.org> SMTPUTF8"), "250 2.1.0");
  EXPECT_EQ(line("RCPT TO:<\xc3\xa9@b.org>"), "250 2.1.5");
  EXPECT_TRUE(session_.envelope().smtputf8);
  EXPECT_EQ(session_.protocol_name(), "UTF8SMTP");
}

TEST_F(SessionTest, DataFaultsMapToReplies) {
  struct {
    DataFault fault;
    bool stored;
    std::string want;
  } cases[] = {
      {DataFault::too_big, true, "552 5.3.4"},
      {DataFault::line_too_long, true, "550 5.6.0"},
      {DataFault::bare_line_ending, true, "550 5.6.0"},
      {DataFault::nul_byte, true, "550 5.6.0"},
      {DataFault::none, false, "452 4.3.1"},
  };
  SessionOptions o = options();
  o.max_errors = 100;
  FakePolicy p;
  Session session(o, p, core::ClientInfo{"192.0.2.1", 1, "", false, ""});
  session.greet();
  session.on_line("EHLO x");
  for (const auto& c : cases) {
    session.on_line("MAIL FROM:<a@b.org>");
    session.on_line("RCPT TO:<c@b.org>");
    EXPECT_EQ(session.on_line("DATA").next, Next::read_data);
    auto s = session.on_data_end(c.fault, c.stored);
    EXPECT_EQ(s.output.substr(0, 9), c.want);
    EXPECT_EQ(s.next, Next::none);
    EXPECT_TRUE(session.envelope().recipients.empty());
  }
}

TEST_F(SessionTest, StartTlsResetsState) {
  SessionOptions o = options();
  o.starttls_available = true;
  FakePolicy p;
  Session s(o, p, core::ClientInfo{"192.0.2.1", 1, "", false, ""});
  s.greet();
  EXPECT_NE(s.on_line("EHLO x").output.find("STARTTLS"), std::string::npos);
  auto st = s.on_line("STARTTLS");
  EXPECT_EQ(st.output, "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(st.next, Next::start_tls);
  s.on_tls_established("TLSv1.3");
  EXPECT_EQ(s.on_line("MAIL FROM:<a@b.org>").output.substr(0, 9), "503 5.5.1");
  auto ehlo = s.on_line("EHLO x");
  EXPECT_EQ(ehlo.output.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(s.on_line("STARTTLS").output.substr(0, 9), "503 5.5.1");
  EXPECT_EQ(s.protocol_name(), "ESMTPS");
}

TEST_F(SessionTest, RequireTls) {
  SessionOptions o = options();
  o.starttls_available = true;
  o.require_tls = true;
  FakePolicy p;
  Session s(o, p, core::ClientInfo{"192.0.2.1", 1, "", false, ""});
  s.greet();
  s.on_line("EHLO x");
  EXPECT_EQ(s.on_line("MAIL FROM:<a@b.org>").output.substr(0, 9), "530 5.7.0");
}

TEST_F(SessionTest, RefusedConnection) {
  FakePolicy p;
  Session s(options(), p, core::ClientInfo{"192.0.2.66", 1, "", false, ""});
  auto g = s.greet();
  EXPECT_EQ(g.output.substr(0, 9), "554 5.7.1");
  EXPECT_EQ(g.next, Next::close);
}

TEST_F(SessionTest, SimpleVerbs) {
  session_.greet();
  EXPECT_EQ(line("VRFY someone"), "252 2.5.0");
  EXPECT_EQ(line("HELP"), "214 2.0.0");
  EXPECT_EQ(line("NOOP"), "250 2.0.0");
  EXPECT_EQ(line("BDAT 10 LAST"), "502 5.5.1");
}

TEST(Reply, MultiLineWire) {
  EXPECT_EQ(make_reply(250, "", "a\nb\nc").wire(), "250-a\r\n250-b\r\n250 c\r\n");
  EXPECT_EQ(make_reply(550, "5.7.1", "x\ny").wire(), "550-5.7.1 x\r\n550 5.7.1 y\r\n");
  EXPECT_EQ(make_reply(550, "5.7.1", "x\ny").brief(), "550 5.7.1 x y");
}

}  // namespace
}  // namespace mailseal::smtp

namespace mailseal::smtp {
namespace {
TEST(Reply, WireNeverCarriesControlOr8BitBytes) {
  EXPECT_EQ(make_reply(554, "5.7.5", "bad \"a\rb\xff\"").wire(), "554 5.7.5 bad \"a?b?\"\r\n");
}
}  // namespace
}  // namespace mailseal::smtp
