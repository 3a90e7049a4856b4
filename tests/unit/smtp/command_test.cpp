// Command and MAIL/RCPT argument parsing, including the exact refusals.
#include "smtp/command.h"

#include <gtest/gtest.h>

namespace mailseal::smtp {
namespace {

TEST(ParseCommand, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parse_command("ehlo x").verb, Verb::ehlo);
  EXPECT_EQ(parse_command("MaIl FROM:<a@b>").verb, Verb::mail);
  EXPECT_EQ(parse_command("STARTTLS").verb, Verb::starttls);
  EXPECT_EQ(parse_command("DATAX").verb, Verb::unknown);
  auto c = parse_command("RCPT TO:<a@b.c>");
  EXPECT_EQ(c.argument, "TO:<a@b.c>");
}

struct PathCase {
  std::string arg;
  bool utf8;
  int code;  // 0 = accepted
  std::string address;
};

TEST(ParsePathArgument, Mail) {
  const std::vector<PathCase> cases = {
      {"FROM:<a@example.org>", false, 0, "a@example.org"},
      {"FROM: <a@example.org>", false, 0, "a@example.org"},
      {"from:<>", false, 0, ""},
      {"FROM:<@relay.example:a@example.org>", false, 0, "a@example.org"},
      {"FROM:<\"quoted local\"@example.org>", false, 0, "\"quoted local\"@example.org"},
      {"FROM:a@example.org", false, 501, ""},
      {"FROM:<a@example.org", false, 501, ""},
      {"TO:<a@example.org>", false, 501, ""},
      {"FROM:<a@@example.org>", false, 553, ""},
      {"FROM:<a..b@example.org>", false, 553, ""},
      {"FROM:<a@-bad.org>", false, 553, ""},
      {"FROM:<ünï@example.org>", false, 553, ""},
      {"FROM:<ünï@example.org> SMTPUTF8", false, 0, "ünï@example.org"},
      {"FROM:<" + std::string(65, 'a') + "@example.org>", false, 553, ""},
  };
  for (const auto& c : cases) {
    auto r = parse_path_argument(c.arg, "FROM", true, c.utf8);
    if (c.code == 0) {
      ASSERT_TRUE(std::holds_alternative<PathArgument>(r))
          << c.arg << ": " << std::get<Reply>(r).brief();
      EXPECT_EQ(std::get<PathArgument>(r).address, c.address) << c.arg;
    } else {
      ASSERT_TRUE(std::holds_alternative<Reply>(r)) << c.arg;
      EXPECT_EQ(std::get<Reply>(r).code, c.code) << c.arg;
    }
  }
}

TEST(ParsePathArgument, NonAsciiWithoutSmtputf8Is5_6_7) {
  auto r = parse_path_argument("TO:<ü@example.org>", "TO", false, false);
  ASSERT_TRUE(std::holds_alternative<Reply>(r));
  EXPECT_EQ(std::get<Reply>(r).code, 553);
  EXPECT_EQ(std::get<Reply>(r).enhanced, "5.6.7");
}

TEST(ParsePathArgument, RcptRefusesNullAndAcceptsPostmaster) {
  EXPECT_TRUE(std::holds_alternative<Reply>(parse_path_argument("TO:<>", "TO", false, false)));
  auto r = parse_path_argument("TO:<Postmaster>", "TO", false, false);
  ASSERT_TRUE(std::holds_alternative<PathArgument>(r));
  EXPECT_EQ(std::get<PathArgument>(r).address, "Postmaster");
}

TEST(ParsePathArgument, ParamsAreUpperCasedKeys) {
  auto r = parse_path_argument("FROM:<a@b.org> size=100 body=8BITMIME", "FROM", true, false);
  auto& p = std::get<PathArgument>(r);
  EXPECT_EQ(p.params.at("SIZE"), "100");
  EXPECT_EQ(p.params.at("BODY"), "8BITMIME");
}

TEST(ValidUtf8, RejectsMalformed) {
  EXPECT_TRUE(valid_utf8("ascii"));
  EXPECT_TRUE(valid_utf8("\xc3\xbc"));
  EXPECT_FALSE(valid_utf8("\xc3"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));  // overlong '/'
  EXPECT_FALSE(valid_utf8("\xff"));
}

}  // namespace
}  // namespace mailseal::smtp
