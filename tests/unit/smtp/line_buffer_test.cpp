// LineBuffer (command lines, over-long lines) and the client reply parser.
#include "smtp/line_buffer.h"

#include <gtest/gtest.h>

namespace mailseal::smtp {
namespace {

TEST(LineBuffer, SplitsCrlfAndLf) {
  LineBuffer b;
  std::string line;
  b.append("EHLO a\r\nNOOP\nQU");
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::line);
  EXPECT_EQ(line, "EHLO a");
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::line);
  EXPECT_EQ(line, "NOOP");
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::need_more);
  b.append("IT\r\n");
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::line);
  EXPECT_EQ(line, "QUIT");
}

TEST(LineBuffer, OverlongLineReportedOnceThenDiscarded) {
  LineBuffer b;
  std::string line;
  b.append(std::string(50, 'x'));
  EXPECT_EQ(b.next_line(10, line), LineBuffer::Result::too_long);
  b.append(std::string(50, 'y'));
  EXPECT_EQ(b.next_line(10, line), LineBuffer::Result::need_more);
  b.append("zz\r\nNOOP\r\n");
  EXPECT_EQ(b.next_line(10, line), LineBuffer::Result::line);
  EXPECT_EQ(line, "NOOP");
}

TEST(LineBuffer, OverlongCompleteLine) {
  LineBuffer b;
  std::string line;
  b.append("0123456789AB\r\nok\r\n");
  EXPECT_EQ(b.next_line(10, line), LineBuffer::Result::too_long);
  EXPECT_EQ(b.next_line(10, line), LineBuffer::Result::line);
  EXPECT_EQ(line, "ok");
}

TEST(LineBuffer, ClearDropsPipelinedBytes) {
  LineBuffer b;
  std::string line;
  b.append("STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::line);
  b.clear();
  EXPECT_EQ(b.next_line(100, line), LineBuffer::Result::need_more);
  EXPECT_TRUE(b.pending().empty());
}

TEST(ParseReply, MultiLineWithEnhancedCode) {
  ParsedReply r;
  std::string in = "250-a.test\r\n250-PIPELINING\r\n250 SIZE 10\r\nrest";
  EXPECT_EQ(parse_reply(in, r), in.size() - 4);
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.text, "a.test\nPIPELINING\nSIZE 10");
  std::string e = "550 5.7.1 denied\r\n";
  EXPECT_EQ(parse_reply(e, r), e.size());
  EXPECT_EQ(r.enhanced, "5.7.1");
  EXPECT_EQ(r.text, "denied");
  EXPECT_EQ(parse_reply("250-partial\r\n", r), 0u);
  parse_reply("garbage\r\n", r);
  EXPECT_EQ(r.code, 0);
}

}  // namespace
}  // namespace mailseal::smtp
