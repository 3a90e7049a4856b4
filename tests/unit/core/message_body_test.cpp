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
