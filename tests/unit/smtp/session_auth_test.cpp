// SMTP AUTH in the session: only inside TLS, PLAIN and LOGIN, required before MAIL for
// clients outside client_networks, exact replies (RFC 4954).
#include <gtest/gtest.h>

#include "smtp/session.h"
#include "util/base64.h"

namespace mailseal::smtp {
namespace {

class PasswordPolicy : public SessionPolicy {
 public:
  std::optional<Reply> check_recipient(const core::ClientInfo&, const core::Envelope&,
                                       const std::string&) override {
    return std::nullopt;
  }
  bool check_password(std::string_view user, std::string_view password) override {
    return user == "lan" && password == "s3cret";
  }
};

std::string code(const Step& s) {
  return s.output.substr(0, s.output.find(' ', 4));
}

struct AuthSession {
  PasswordPolicy policy;
  Session session;
  explicit AuthSession(bool tls)
      : session(options(), policy, core::ClientInfo{"198.51.100.7", 1, "", false, ""}) {
    session.greet();
    if (tls) session.on_tls_established("TLSv1.3");
  }
  static SessionOptions options() {
    SessionOptions o;
    o.hostname = "gw.test";
    o.starttls_available = true;
    o.auth_available = true;
    o.auth_required = true;
    o.max_errors = 50;
    return o;
  }
};

TEST(SessionAuth, NotOfferedOrAcceptedBeforeTls) {
  AuthSession a(false);
  auto ehlo = a.session.on_line("EHLO c");
  EXPECT_EQ(ehlo.output.find("AUTH"), std::string::npos);
  EXPECT_EQ(code(a.session.on_line("AUTH PLAIN " +
                                   util::base64_encode(std::string("\0lan\0s3cret", 11)))),
            "538 5.7.11");
  EXPECT_EQ(code(a.session.on_line("MAIL FROM:<a@b.org>")), "530 5.7.0");
}

TEST(SessionAuth, PlainWithInitialResponse) {
  AuthSession a(true);
  EXPECT_NE(a.session.on_line("EHLO c").output.find("250 AUTH PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(code(a.session.on_line("MAIL FROM:<a@b.org>")), "530 5.7.0");
  EXPECT_EQ(
      code(a.session.on_line("AUTH PLAIN " + util::base64_encode(std::string("\0lan\0wrong", 10)))),
      "535 5.7.8");
  EXPECT_EQ(code(a.session.on_line("AUTH PLAIN " +
                                   util::base64_encode(std::string("\0lan\0s3cret", 11)))),
            "235 2.7.0");
  EXPECT_EQ(a.session.client().auth_user, "lan");
  EXPECT_EQ(a.session.protocol_name(), "ESMTPSA");
  EXPECT_EQ(code(a.session.on_line("AUTH PLAIN x")), "503 5.5.1");
  EXPECT_EQ(code(a.session.on_line("MAIL FROM:<a@b.org>")), "250 2.1.0");
}

TEST(SessionAuth, PlainChallengeAndOtherAuthzidRefused) {
  AuthSession a(true);
  a.session.on_line("EHLO c");
  EXPECT_EQ(a.session.on_line("AUTH PLAIN").output, "334 \r\n");
  EXPECT_EQ(code(a.session.on_line(util::base64_encode(std::string("boss\0lan\0s3cret", 15)))),
            "535 5.7.8");
  EXPECT_TRUE(a.session.client().auth_user.empty());
}

TEST(SessionAuth, Login) {
  AuthSession a(true);
  a.session.on_line("EHLO c");
  EXPECT_EQ(a.session.on_line("AUTH LOGIN").output, "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(a.session.on_line(util::base64_encode("lan")).output, "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(code(a.session.on_line(util::base64_encode("s3cret"))), "235 2.7.0");
}

TEST(SessionAuth, CancelBadBase64AndUnknownMechanism) {
  AuthSession a(true);
  a.session.on_line("EHLO c");
  a.session.on_line("AUTH LOGIN");
  EXPECT_EQ(code(a.session.on_line("*")), "501 5.7.0");
  a.session.on_line("AUTH PLAIN");
  EXPECT_EQ(code(a.session.on_line("!!!")), "501 5.5.2");
  EXPECT_EQ(code(a.session.on_line("AUTH CRAM-MD5")), "504 5.5.4");
  // The session is back to commands after each failure.
  EXPECT_EQ(code(a.session.on_line("NOOP")), "250 2.0.0");
}

TEST(Base64, RoundTripAndStrictDecode) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(util::base64_decode(util::base64_encode(s)), s);
  EXPECT_EQ(util::base64_encode("Username:"), "VXNlcm5hbWU6");
  EXPECT_FALSE(util::base64_decode("abc"));
  EXPECT_FALSE(util::base64_decode("a=bc"));
  EXPECT_FALSE(util::base64_decode("ab$c"));
}

}  // namespace
}  // namespace mailseal::smtp
