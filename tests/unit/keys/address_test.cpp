// normalise_address / is_valid_address: the lookup rule (domain case-insensitive, local
// part exact) as a table.

#include <gtest/gtest.h>

#include "keys/address.h"
#include "keys/key_source.h"

namespace mailseal::keys {
namespace {

TEST(NormaliseAddress, DomainLowerLocalExact) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"Alice@Example.ORG", "Alice@example.org"},  {"alice@example.org", "alice@example.org"},
      {"  bob@EXAMPLE.org\t", "bob@example.org"},  {"\"a@b\"@Example.Org", "\"a@b\"@example.org"},
      {"carol@example.org.", "carol@example.org"}, {"no-at-sign", "no-at-sign"},
  };
  for (const auto& c : cases) EXPECT_EQ(normalise_address(c.in), c.want) << c.in;
}

TEST(IsValidAddress, Table) {
  EXPECT_TRUE(is_valid_address("alice@example.org"));
  EXPECT_TRUE(is_valid_address("first.last+tag@sub.example.org"));
  EXPECT_FALSE(is_valid_address("alice"));
  EXPECT_FALSE(is_valid_address("@example.org"));
  EXPECT_FALSE(is_valid_address("alice@"));
  EXPECT_FALSE(is_valid_address("al ice@example.org"));
  EXPECT_FALSE(is_valid_address("alice@exa..mple.org"));
  EXPECT_FALSE(is_valid_address("alice@example.org\n"));
}

}  // namespace
}  // namespace mailseal::keys
