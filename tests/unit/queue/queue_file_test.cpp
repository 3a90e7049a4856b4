// Queue file: what is written is read back, in-place updates survive a re-open, and a
// damaged file is detected instead of being delivered half.
#include "queue/queue_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "queue/spool.h"

namespace mailseal::queue {
namespace {

class QueueFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mailseal-qf-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  NewMessage message(std::vector<std::string> rcpts) {
    NewMessage m;
    m.id = "ABC123";
    m.lane = Lane::inbound;
    m.sender = "alice@example.org";
    m.body_8bit = true;
    m.recipients = std::move(rcpts);
    m.prefix = "Received: from x\r\n";
    m.owned_body = "Subject: hi\r\n\r\nbody\r\n";
    return m;
  }
  std::filesystem::path dir_;
};

TEST_F(QueueFileTest, WritesAndReadsBackEnvelopeAndBody) {
  auto path = dir_ / "ABC123";
  ASSERT_FALSE(
      write_queue_file(path, message({"bob@example.net", "carol@example.net"}), 1700000000));
  std::string error;
  auto f = QueueFile::open(path, error);
  ASSERT_TRUE(f) << error;
  const auto& h = f->header();
  EXPECT_EQ(h.id, "ABC123");
  EXPECT_EQ(h.lane, Lane::inbound);
  EXPECT_EQ(h.arrival, 1700000000);
  EXPECT_EQ(h.sender, "alice@example.org");
  EXPECT_TRUE(h.body_8bit);
  EXPECT_FALSE(h.smtputf8);
  EXPECT_EQ(h.attempts, 0);
  ASSERT_EQ(h.recipients.size(), 2u);
  EXPECT_EQ(h.recipients[1].address, "carol@example.net");
  EXPECT_EQ(h.recipients[1].state, RecipientState::pending);
  EXPECT_EQ(f->body().to_string(), "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n");
}

TEST_F(QueueFileTest, InPlaceUpdatesSurviveReopen) {
  auto path = dir_ / "ABC123";
  ASSERT_FALSE(write_queue_file(path, message({"bob@example.net", "carol@example.net"}), 1));
  {
    std::string error;
    auto f = QueueFile::open(path, error);
    ASSERT_TRUE(f);
    ASSERT_FALSE(f->set_recipient(0, RecipientState::delivered, "250 2.0.0 ok"));
    ASSERT_FALSE(f->set_recipient(1, RecipientState::pending, "451 4.4.1 try later"));
    ASSERT_FALSE(f->set_schedule(3, 1700000123, true));
    ASSERT_FALSE(f->sync());
  }
  std::string error;
  auto f = QueueFile::open(path, error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->header().recipients[0].state, RecipientState::delivered);
  EXPECT_EQ(f->header().recipients[1].last_reply, "451 4.4.1 try later");
  EXPECT_EQ(f->header().attempts, 3);
  EXPECT_EQ(f->header().next_attempt, 1700000123);
  EXPECT_TRUE(f->header().warned);
  // The body is untouched by the header updates.
  EXPECT_EQ(f->body().to_string(), "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n");
}

TEST_F(QueueFileTest, LongReplyIsCutToItsSlot) {
  auto path = dir_ / "ABC123";
  ASSERT_FALSE(write_queue_file(path, message({"bob@example.net"}), 1));
  std::string error;
  auto f = QueueFile::open(path, error);
  ASSERT_TRUE(f);
  ASSERT_FALSE(f->set_recipient(0, RecipientState::failed, "550 " + std::string(2000, 'x')));
  f.reset();
  auto g = QueueFile::open(path, error);
  ASSERT_TRUE(g) << error;
  EXPECT_EQ(g->header().recipients[0].last_reply.size(), kReplySlot);
  EXPECT_EQ(g->body().size(),
            std::string("Received: from x\r\nSubject: hi\r\n\r\nbody\r\n").size());
}

TEST_F(QueueFileTest, TruncatedFileIsDamaged) {
  auto path = dir_ / "ABC123";
  ASSERT_FALSE(write_queue_file(path, message({"bob@example.net"}), 1));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  std::string error;
  EXPECT_FALSE(QueueFile::open(path, error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST_F(QueueFileTest, RecipientWithLineBreakIsRefused) {
  EXPECT_TRUE(write_queue_file(dir_ / "X", message({"bob@example.net\nrcpt P evil@x"}), 1));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "X"));
}

TEST_F(QueueFileTest, SpoolEnqueueIsAllOrNothing) {
  Spool spool(dir_ / "queue");
  ASSERT_FALSE(spool.prepare());
  auto good = message({"bob@example.net"});
  auto bad = message({"bob@example.net"});
  bad.id = "../escape";  // not a valid id: the whole batch fails
  EXPECT_TRUE(spool.enqueue({good, bad}));
  EXPECT_TRUE(spool.list(Folder::active).empty());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "queue" / "incoming"));
  auto second = message({"carol@example.net"});
  second.id = "ABC124";
  EXPECT_FALSE(spool.enqueue({good, second}));
  EXPECT_EQ(spool.list(Folder::active), (std::vector<std::string>{"ABC123", "ABC124"}));
}

TEST_F(QueueFileTest, SpoolMovesAndRemoves) {
  Spool spool(dir_ / "queue");
  ASSERT_FALSE(spool.prepare());
  ASSERT_FALSE(spool.enqueue({message({"bob@example.net"})}));
  EXPECT_TRUE(spool.move("ABC123", Folder::active, Folder::hold));
  EXPECT_TRUE(spool.list(Folder::active).empty());
  EXPECT_FALSE(spool.move("ABC123", Folder::active, Folder::hold));
  EXPECT_TRUE(spool.remove("ABC123", Folder::hold));
  EXPECT_FALSE(Spool::valid_id("../etc/passwd"));
  EXPECT_FALSE(Spool::valid_id(".hidden"));
  EXPECT_TRUE(Spool::valid_id("0ABC.2-B1"));
}

TEST_F(QueueFileTest, PrepareRemovesUnacknowledgedLeftovers) {
  Spool spool(dir_ / "queue");
  ASSERT_FALSE(spool.prepare());
  std::ofstream(dir_ / "queue" / "incoming" / "HALF") << "MAILSEAL-QUEUE 1\nid HALF\n";
  ASSERT_FALSE(spool.prepare());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "queue" / "incoming"));
  EXPECT_EQ(std::filesystem::status(dir_ / "queue").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
}

}  // namespace
}  // namespace mailseal::queue
