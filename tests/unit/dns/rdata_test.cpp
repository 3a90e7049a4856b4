// RDATA decoders: names (case, escapes, the root, malformed input) and each record type.
#include "dns/rdata.h"

#include <gtest/gtest.h>

namespace mailseal::dns {
namespace {

TEST(Rdata, NameLowerCasedWithoutTrailingDot) {
  std::size_t used = 0;
  auto n = decode_name(std::string("\x02MX\x07"
                                   "Example\x03org\x00",
                                   16),
                       used);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, "mx.example.org");
  EXPECT_EQ(used, 16u);
}

TEST(Rdata, RootAndEscapes) {
  std::size_t used = 0;
  EXPECT_EQ(decode_name(std::string(1, '\0'), used), ".");
  EXPECT_EQ(decode_name(std::string("\x03"
                                    "a.b\x00",
                                    5),
                        used),
            "a\\046b");
}

TEST(Rdata, MalformedNames) {
  std::size_t used = 0;
  EXPECT_FALSE(decode_name(std::string("\x05"
                                       "ab",
                                       3),
                           used));  // overrun
  EXPECT_FALSE(decode_name(std::string("\x02"
                                       "ab",
                                       3),
                           used));                              // no terminator
  EXPECT_FALSE(decode_name(std::string("\xc0\x0c", 2), used));  // compression pointer
}

TEST(Rdata, Mx) {
  auto mx = decode_mx(std::string("\x00\x0a\x02mx\x00", 6));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx");
  auto null_mx = decode_mx(std::string("\x00\x00\x00", 3));
  ASSERT_TRUE(null_mx);
  EXPECT_EQ(null_mx->exchange, ".");
  EXPECT_FALSE(decode_mx(std::string("\x00\x0a\x02mx\x00trailing", 14)));
}

TEST(Rdata, Addresses) {
  EXPECT_EQ(decode_a(std::string("\xc0\x00\x02\x01", 4)), "192.0.2.1");
  EXPECT_FALSE(decode_a("abc"));
  std::string v6(16, '\0');
  v6[0] = '\x20';
  v6[1] = '\x01';
  v6[2] = '\x0d';
  v6[3] = '\xb8';
  v6[15] = '\x01';
  EXPECT_EQ(decode_aaaa(v6), "2001:db8::1");
}

TEST(Rdata, Tlsa) {
  auto t = decode_tlsa(std::string("\x02\x00\x01\x01\x02", 5));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->usage, 2);
  EXPECT_EQ(t->selector, 0);
  EXPECT_EQ(t->matching, 1);
  EXPECT_EQ(t->data, (std::vector<std::uint8_t>{1, 2}));
  EXPECT_FALSE(decode_tlsa(std::string("\x03\x01\x01", 3)));
}

}  // namespace
}  // namespace mailseal::dns
