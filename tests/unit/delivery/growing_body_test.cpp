// GrowingBody: a coroutine on a strand sends a body that another thread is still writing.
// It must see every byte in order, the end only after finish(true), a failure after
// finish(false), and never hang on a wake-up that came between its check and its wait
// (each case is repeated so that such a race would show as a timeout).
#include "delivery/growing_body.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace mailseal::delivery {
namespace {

namespace asio = net::asio;

struct Received {
  std::string bytes;
  GrowingBody::Next last = GrowingBody::Next::more;
};

// Reads everything the writer makes available, as the SMTP client's DATA loop does.
net::awaitable<void> drain(const GrowingBody& growing, std::promise<Received>& done) {
  Received r;
  char buf[7000];
  while (true) {
    long n = growing.body().read_at(r.bytes.size(), buf, sizeof buf);
    if (n > 0) {
      r.bytes.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    GrowingBody::Next next = co_await growing.wait(r.bytes.size());
    if (next == GrowingBody::Next::more) continue;
    r.last = next;
    break;
  }
  done.set_value(std::move(r));
}

// What the SMTP client does before MAIL for a next hop without 8BITMIME: wait for the end.
net::awaitable<void> await_finished(const GrowingBody& growing, std::promise<Received>& done) {
  bool whole = co_await growing.finished();
  Received r;
  r.last = whole ? GrowingBody::Next::end : GrowingBody::Next::failed;
  r.bytes = growing.body().to_string();
  done.set_value(std::move(r));
}

class GrowingBodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    runner_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    runner_.join();
  }

  // One writer thread appending `text` in random pieces (with an occasional pause), then
  // finishing with `whole`; returns what the sending coroutine received.
  using Sender = net::awaitable<void> (*)(const GrowingBody&, std::promise<Received>&);
  Received run_once(const std::string& text, bool whole, unsigned seed, Sender sender = drain) {
    core::MessageBody writer(std::filesystem::temp_directory_path(), 64 * 1024);
    auto strand = asio::make_strand(io_);
    GrowingBody growing(writer, strand);
    std::promise<Received> done;
    auto result = done.get_future();
    asio::co_spawn(strand, sender(growing, done), asio::detached);
    std::thread producer([&] {
      std::mt19937 rng(seed);
      for (std::size_t off = 0; off < text.size();) {
        std::size_t n = std::min<std::size_t>(text.size() - off, 1 + rng() % 40000);
        writer.append(std::string_view(text).substr(off, n));
        off += n;
        if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
      }
      EXPECT_TRUE(writer.ok());
      growing.finish(whole);
    });
    producer.join();
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "the sender never saw the end (a lost wake-up)";
      std::abort();  // the coroutine still refers to this frame
    }
    return result.get();
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread runner_;
};

TEST_F(GrowingBodyTest, SenderGetsEveryByteThenTheEnd) {
  std::string text;
  for (int i = 0; text.size() < 1500000; ++i) text += "line " + std::to_string(i) + "\r\n";
  for (unsigned seed = 1; seed <= 25; ++seed) {
    Received r = run_once(text, true, seed);
    ASSERT_EQ(r.last, GrowingBody::Next::end) << "seed " << seed;
    ASSERT_EQ(r.bytes.size(), text.size()) << "seed " << seed;
    ASSERT_EQ(r.bytes, text) << "seed " << seed;
  }
}

TEST_F(GrowingBodyTest, AGivenUpCopyEndsTheSendWithAFailure) {
  std::string text(300000, 'x');
  for (unsigned seed = 1; seed <= 10; ++seed) {
    Received r = run_once(text, false, seed);
    EXPECT_EQ(r.last, GrowingBody::Next::failed) << "seed " << seed;
    EXPECT_LE(r.bytes.size(), text.size());
  }
}

TEST_F(GrowingBodyTest, FinishedWaitsForTheWholeCopyOrItsFailure) {
  std::string text(700000, 'y');
  for (unsigned seed = 1; seed <= 10; ++seed) {
    Received r = run_once(text, true, seed, await_finished);
    ASSERT_EQ(r.last, GrowingBody::Next::end) << "seed " << seed;
    ASSERT_EQ(r.bytes.size(), text.size()) << "whole means every byte is there";
    EXPECT_EQ(run_once(text, false, seed, await_finished).last, GrowingBody::Next::failed);
  }
}

TEST_F(GrowingBodyTest, AnEmptyWholeCopyEndsAtOnce) {
  Received r = run_once("", true, 1);
  EXPECT_EQ(r.last, GrowingBody::Next::end);
  EXPECT_TRUE(r.bytes.empty());
}

}  // namespace
}  // namespace mailseal::delivery
