// copy_crlf: bare CR and bare LF become CRLF, CRLF stays, across the 64 KiB pieces it
// reads (a CR at the end of one piece and its LF at the start of the next is one CRLF).
#include "gateway/body_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace mailseal::gateway {
namespace {

std::string reference_crlf(const std::string& in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (in[i] == '\n') {
      out += "\r\n";
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::string crlf_through_body(const std::string& in) {
  core::MessageBody out(std::filesystem::temp_directory_path());
  EXPECT_TRUE(copy_crlf(mime::source_from_string(in), out));
  return out.to_string();
}

TEST(CopyCrlf, Table) {
  for (std::string in : {"", "a", "\r", "\n", "\r\n", "\n\r", "a\rb", "a\nb", "a\r\nb\r\n",
                         "\r\r\n", "x\r\n\n\r\r", "line\r\nline\nline\rline"})
    EXPECT_EQ(crlf_through_body(in), reference_crlf(in)) << testing::PrintToString(in);
}

TEST(CopyCrlf, RandomInputsAcrossPieceBoundaries) {
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    // Mostly CRLF lines with some bare line ends, long enough for several 64 KiB pieces;
    // every round puts a CR right at the first piece's end once.
    std::string in;
    while (in.size() < 200000) {
      in.append(rng() % 90, static_cast<char>('a' + rng() % 26));
      unsigned r = rng() % 10;
      in += r < 7 ? "\r\n" : r == 7 ? "\n" : r == 8 ? "\r" : "\r\r\n";
    }
    in[65535] = '\r';
    in[65536] = round % 2 ? '\n' : 'z';
    ASSERT_EQ(crlf_through_body(in), reference_crlf(in)) << "round " << round;
  }
}

}  // namespace
}  // namespace mailseal::gateway
