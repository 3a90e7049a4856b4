// DataDecoder: end of data only at CRLF.CRLF, dot-unstuffing, lone CR/LF rule, limits;
// DotStuffer: the inverse. Table-driven, and fed in every split to catch state bugs.
#include "smtp/data_decoder.h"

#include <gtest/gtest.h>

namespace mailseal::smtp {
namespace {

struct Decoded {
  std::string body;
  DataFault fault;
  std::size_t consumed;
  bool done;
};

Decoded decode(std::string_view wire, DataLimits limits = {}, std::size_t chunk = 0) {
  DataDecoder d(limits);
  Decoded out{"", DataFault::none, 0, false};
  if (chunk == 0) chunk = wire.size() ? wire.size() : 1;
  for (std::size_t pos = 0; pos < wire.size() && !d.done(); pos += chunk) {
    auto part = wire.substr(pos, chunk);
    out.consumed += d.feed(part, out.body);
  }
  out.fault = d.fault();
  out.done = d.done();
  return out;
}

struct Case {
  const char* name;
  std::string wire;
  std::string body;
  DataFault fault;
  bool done;
};

TEST(DataDecoder, Table) {
  const std::vector<Case> cases = {
      {"simple", "a\r\nb\r\n.\r\n", "a\r\nb\r\n", DataFault::none, true},
      {"empty message", ".\r\n", "", DataFault::none, true},
      {"dot stuffing removed", "..x\r\n.\r\n", ".x\r\n", DataFault::none, true},
      {"single dot line stuffed", "..\r\n.\r\n", ".\r\n", DataFault::none, true},
      {"dot inside line kept", "a.b\r\n.\r\n", "a.b\r\n", DataFault::none, true},
      {"not ended", "a\r\nb\r\n", "a\r\nb\r\n", DataFault::none, false},
      {"bare LF refused", "a\nb\r\n.\r\n", "a", DataFault::bare_line_ending, true},
      {"bare CR refused", "a\rb\r\n.\r\n", "a", DataFault::bare_line_ending, true},
      {"smuggle LF.LF is not an end", "a\n.\nMAIL FROM:<x>\r\n.\r\n", "a",
       DataFault::bare_line_ending, true},
      {"smuggle CRLF.LF is not an end", "a\r\n.\nX\r\n.\r\n", "a\r\n", DataFault::bare_line_ending,
       true},
      {"smuggle LF.CRLF is not an end", "a\n.\r\nX\r\n.\r\n", "a", DataFault::bare_line_ending,
       true},
      {"smuggle CR.CR is not an end", "a\r.\rX\r\n.\r\n", "a", DataFault::bare_line_ending, true},
      {"NUL refused", std::string("a\0b\r\n.\r\n", 8), "a", DataFault::nul_byte, true},
  };
  for (const auto& c : cases) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
      auto d = decode(c.wire, {}, chunk);
      EXPECT_EQ(d.done, c.done) << c.name << " chunk " << chunk;
      EXPECT_EQ(d.fault, c.fault) << c.name << " chunk " << chunk;
      if (c.fault == DataFault::none) {
        EXPECT_EQ(d.body, c.body) << c.name << " chunk " << chunk;
      }
    }
  }
}

TEST(DataDecoder, StopsAtEndAndLeavesPipelinedCommands) {
  auto d = decode("x\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.consumed, 6u);
}

TEST(DataDecoder, NormaliseTurnsLoneEndingsIntoCrlfButNeverEnds) {
  DataLimits l;
  l.bare_line_endings = BareLineEndings::normalise;
  // ".\n" is a stuffed empty line; the ".\r\n" after that lone LF is data, not the end
  // (only CRLF "." CRLF ends); the last ".\r\n" follows a real CRLF and ends.
  auto d = decode("a\nb\rc\r\n.\n.\r\n.\r\n", l);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.fault, DataFault::none);
  EXPECT_EQ(d.body, "a\r\nb\r\nc\r\n\r\n.\r\n");
}

TEST(DataDecoder, SizeLimitCountsDecodedBytesAndStopsStoring) {
  DataLimits l;
  l.max_size = 10;
  auto d = decode("0123456789\r\nmore\r\n.\r\n", l);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.fault, DataFault::too_big);
  EXPECT_LE(d.body.size(), 12u);
}

TEST(DataDecoder, LineLengthLimit) {
  DataLimits l;
  l.max_line_length = 5;
  EXPECT_EQ(decode("12345\r\n.\r\n", l).fault, DataFault::none);
  EXPECT_EQ(decode("123456\r\n.\r\n", l).fault, DataFault::line_too_long);
}

TEST(DotStuffer, StuffsLeadingDotsAndTerminates) {
  struct {
    std::string in, out;
  } cases[] = {
      {"a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"},  {".\r\n", "..\r\n.\r\n"},
      {"no newline", "no newline\r\n.\r\n"}, {"", ".\r\n"},
      {"x.y\r\n", "x.y\r\n.\r\n"},
  };
  for (const auto& c : cases) {
    for (std::size_t chunk = 1; chunk <= c.in.size() + 1; ++chunk) {
      DotStuffer s;
      std::string out;
      for (std::size_t i = 0; i < c.in.size(); i += chunk)
        s.feed(std::string_view(c.in).substr(i, chunk), out);
      s.finish(out);
      EXPECT_EQ(out, c.out) << c.in << " chunk " << chunk;
    }
  }
}

TEST(DotStuffer, RoundTripThroughDecoder) {
  std::string body = ".start\r\n..two\r\nmid . dot\r\n.\r\nend\r\n";
  DotStuffer s;
  std::string wire;
  s.feed(body, wire);
  s.finish(wire);
  auto d = decode(wire);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, body);
  EXPECT_EQ(d.consumed, wire.size());
}

}  // namespace
}  // namespace mailseal::smtp
