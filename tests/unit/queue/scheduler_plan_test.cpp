// Retry policy: back-off growth and cap, expiry after the lifetime, one delay warning,
// and never a DSN to the null sender.
#include <gtest/gtest.h>

#include "queue/scheduler.h"

namespace mailseal::queue {
namespace {

core::QueueConfig config() {
  core::QueueConfig c;
  c.retry_min = std::chrono::seconds(60);
  c.retry_max = std::chrono::seconds(600);
  c.warn_after = std::chrono::seconds(3600);
  c.lifetime = std::chrono::seconds(86400);
  return c;
}

QueueHeader header(std::string sender, std::vector<RecipientState> states) {
  QueueHeader h;
  h.id = "Q";
  h.sender = std::move(sender);
  h.arrival = 1000;
  h.attempts = 1;
  for (auto s : states) {
    QueuedRecipient r;
    r.address = "r@example.net";
    r.state = s;
    r.last_reply = "451 4.4.1 not reachable";
    h.recipients.push_back(r);
  }
  return h;
}

TEST(SchedulerPlan, BackoffDoublesUpToTheCap) {
  auto c = config();
  EXPECT_EQ(backoff_seconds(c, 1), 60);
  EXPECT_EQ(backoff_seconds(c, 2), 120);
  EXPECT_EQ(backoff_seconds(c, 4), 480);
  EXPECT_EQ(backoff_seconds(c, 5), 600);
  EXPECT_EQ(backoff_seconds(c, 500), 600);
}

TEST(SchedulerPlan, PendingIsRetriedAfterBackoff) {
  auto h = header("a@example.org", {RecipientState::pending, RecipientState::delivered});
  std::vector<std::size_t> expired;
  auto plan = plan_after_attempt(config(), h, 1100, expired);
  EXPECT_FALSE(plan.finished);
  EXPECT_EQ(plan.next_attempt, 1160);
  EXPECT_FALSE(plan.send_delay_dsn);
  EXPECT_FALSE(plan.send_failure_dsn);
  EXPECT_TRUE(expired.empty());
}

TEST(SchedulerPlan, WarnsOnceAfterTheDelay) {
  auto h = header("a@example.org", {RecipientState::pending});
  std::vector<std::size_t> expired;
  EXPECT_TRUE(plan_after_attempt(config(), h, 1000 + 3600, expired).send_delay_dsn);
  h.warned = true;
  EXPECT_FALSE(plan_after_attempt(config(), h, 1000 + 7200, expired).send_delay_dsn);
}

TEST(SchedulerPlan, ExpiresPendingAfterLifetimeWithLastReply) {
  auto h = header("a@example.org", {RecipientState::pending, RecipientState::delivered});
  std::vector<std::size_t> expired;
  auto plan = plan_after_attempt(config(), h, 1000 + 86400, expired);
  EXPECT_TRUE(plan.finished);
  EXPECT_TRUE(plan.send_failure_dsn);
  ASSERT_EQ(expired, std::vector<std::size_t>{0});
  EXPECT_EQ(h.recipients[0].state, RecipientState::failed);
  EXPECT_NE(h.recipients[0].last_reply.find("4.4.7"), std::string::npos);
  EXPECT_NE(h.recipients[0].last_reply.find("451 4.4.1 not reachable"), std::string::npos);
}

TEST(SchedulerPlan, NeverADsnToTheNullSender) {
  auto h = header("", {RecipientState::failed, RecipientState::pending});
  std::vector<std::size_t> expired;
  auto plan = plan_after_attempt(config(), h, 1000 + 3600, expired);
  EXPECT_FALSE(plan.send_failure_dsn);
  EXPECT_FALSE(plan.send_delay_dsn);
}

TEST(SchedulerPlan, PermanentFailureGetsADsnAtOnce) {
  auto h = header("a@example.org", {RecipientState::failed, RecipientState::pending});
  std::vector<std::size_t> expired;
  auto plan = plan_after_attempt(config(), h, 1010, expired);
  EXPECT_TRUE(plan.send_failure_dsn);
  EXPECT_FALSE(plan.finished);
}

}  // namespace
}  // namespace mailseal::queue
