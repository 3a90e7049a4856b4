// aggregate_replies: how per-recipient next-hop results become the client's one reply.
#include "server/relay.h"

#include <gtest/gtest.h>

namespace mailseal::server {
namespace {

using delivery::RecipientResult;
using smtp::make_reply;

TEST(AggregateReplies, AllAccepted) {
  auto r = aggregate_replies(
      {{"a", make_reply(250, "2.0.0", "ok")}, {"b", make_reply(250, "2.0.0", "ok")}}, "ID1",
      "250 ok");
  EXPECT_EQ(r.code, 250);
  EXPECT_NE(r.text.find("ID1"), std::string::npos);
}

TEST(AggregateReplies, AllRefusedTransientWins) {
  auto r = aggregate_replies(
      {{"a", make_reply(550, "5.1.1", "no user")}, {"b", make_reply(451, "4.4.1", "later")}}, "ID",
      "");
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.enhanced, "4.4.1");
}

TEST(AggregateReplies, AllPermanent) {
  auto r = aggregate_replies({{"a", make_reply(550, "5.1.1", "no user")}}, "ID", "");
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.enhanced, "5.1.1");
}

TEST(AggregateReplies, PartialIsAcceptedAndSaysSo) {
  auto r = aggregate_replies(
      {{"a", make_reply(250, "2.0.0", "ok")}, {"b", make_reply(550, "5.1.1", "no")}}, "ID", "");
  EXPECT_EQ(r.code, 250);
  EXPECT_NE(r.text.find("1 of 2"), std::string::npos);
}

TEST(AggregateReplies, NothingIsNotSuccess) {
  EXPECT_EQ(aggregate_replies({}, "ID", "").code, 451);
}

}  // namespace
}  // namespace mailseal::server
