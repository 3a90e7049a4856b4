// MessageBody: memory below the limit, anonymous file above it, identical reads.
#include "core/message_body.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

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

// A filter's copy read by the relay while the filter still appends (core::CopyListener):
// the reader sees exactly the bytes written so far, across the spill from memory to the
// file, and is woken at least every kGrowthStep bytes.
TEST(MessageBody, FollowedBodyIsReadWhileItIsWritten) {
  MessageBody writer(std::filesystem::temp_directory_path(), 64 * 1024);
  std::atomic<int> wakes{0};
  std::atomic<bool> done{false};
  std::string expect;
  for (int i = 0; expect.size() < 3 * 1024 * 1024; ++i)
    expect +=
        "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x') + "\r\n";
  MessageBody view = writer.follow();
  view.on_growth([&] { ++wakes; });
  std::thread producer([&] {
    for (std::size_t off = 0, step = 1; off < expect.size();
         off += step, step = step * 7 % 9973 + 1)
      writer.append(std::string_view(expect).substr(off, step));
    EXPECT_TRUE(writer.ok());
    done = true;
  });
  std::string got;
  char buf[5000];
  while (true) {
    bool finished = done.load();  // before the read: a 0 after it means the end
    long n = view.read_at(got.size(), buf, sizeof buf);
    ASSERT_GE(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
    ASSERT_EQ(got, expect.substr(0, got.size()));
    if (n == 0 && finished) break;
  }
  producer.join();
  EXPECT_EQ(got.size(), expect.size());
  EXPECT_TRUE(view.spilled());
  EXPECT_GE(wakes.load(), static_cast<int>(expect.size() / MessageBody::kGrowthStep) - 1);
}

TEST(MessageBody, FollowedBytesOutliveTheWriterAndItsMoves) {
  MessageBody view(std::filesystem::temp_directory_path());
  {
    MessageBody writer(std::filesystem::temp_directory_path(), 100);
    view = writer.follow();
    writer.append(std::string(1000, 'a'));
    MessageBody moved(std::move(writer));  // the filter moves its copy into its result
    moved.append("b");
    EXPECT_TRUE(moved.same_bytes(view));
    EXPECT_FALSE(writer.same_bytes(view));
    EXPECT_EQ(writer.size(), 0u);  // moved-from: empty and usable
    writer.append("c");
    EXPECT_EQ(writer.to_string(), "c");
  }
  EXPECT_EQ(view.size(), 1001u);
  EXPECT_EQ(view.to_string(), std::string(1000, 'a') + "b");
}

}  // namespace
}  // namespace mailseal::core
