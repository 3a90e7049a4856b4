// MessageBody: memory below the limit, anonymous file above it, identical reads.
#include "core/message_body.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace mailseal::core {
namespace {

TEST(MessageBody, SmallStaysInMemory) {
  MessageBody b(std::filesystem::temp_directory_path(), 100);
  b.append("hello ");
  b.append("world");
  EXPECT_FALSE(b.spilled());
  EXPECT_EQ(b.size(), 11u);
  EXPECT_EQ(b.to_string(), "hello world");
}

TEST(MessageBody, LargeSpillsAndReadsBack) {
  MessageBody b(std::filesystem::temp_directory_path(), 100);
  std::string expect;
  for (int i = 0; i < 1000; ++i) {
    std::string chunk = "line " + std::to_string(i) + "\r\n";
    b.append(chunk);
    expect += chunk;
  }
  EXPECT_TRUE(b.spilled());
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(b.to_string(), expect);
  auto r = b.reader();
  std::string back;
  char buf[7];
  long n;
  while ((n = r.read(buf, sizeof buf)) > 0) back.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(back, expect);
  MessageBody moved = std::move(b);
  EXPECT_EQ(moved.to_string(), expect);
}

TEST(MessageBody, UnwritableSpillDirIsAnErrorNotALoss) {
  MessageBody b("/nonexistent/dir", 4);
  b.append("123");
  b.append("45678");
  EXPECT_FALSE(b.ok());
  EXPECT_TRUE(b.error());
}

}  // namespace
}  // namespace mailseal::core

namespace mailseal::core {
namespace {

// Many small reads at scattered offsets (a MIME parser's pattern) through the read-ahead
// window must return exactly the file's bytes, also while appends continue.
TEST(MessageBody, ReadAheadWindowIsExactAcrossAppends) {
  MessageBody b(std::filesystem::temp_directory_path(), 16);
  std::string expect;
  for (int i = 0; i < 20000; ++i) {
    std::string chunk = std::to_string(i * 7919) + (i % 3 ? "\r\n" : " ");
    b.append(chunk);
    expect += chunk;
    if (i % 997 == 0) {  // read while writing: buffered bytes must be visible
      char c = 0;
      ASSERT_EQ(b.read_at(expect.size() - 1, &c, 1), 1);
      EXPECT_EQ(c, expect.back());
    }
  }
  ASSERT_TRUE(b.ok());
  for (std::size_t off : {std::size_t{0}, std::size_t{5}, expect.size() / 2, expect.size() - 3}) {
    char buf[3];
    long n = b.read_at(off, buf, sizeof buf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)),
              expect.substr(off, static_cast<std::size_t>(n)));
  }
  std::string big(expect.size(), '\0');
  EXPECT_EQ(b.read_at(0, big.data(), big.size()), static_cast<long>(expect.size()));
  EXPECT_EQ(big, expect);
}

}  // namespace
}  // namespace mailseal::core
