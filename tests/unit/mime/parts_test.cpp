// mime::decoded_parts_of_type (keys attached to signed mail, issue 6): decoded leaf parts
// of one type in the entity and its multiparts, never inside an attached message, with
// the count and size limits.
#include <gtest/gtest.h>

#include "mime/entity.h"

namespace mailseal::mime {
namespace {

std::vector<std::string> keys_in(const std::string& s, std::size_t max_parts = 4,
                                 std::size_t max_bytes = 1024) {
  return decoded_parts_of_type(source_from_string(s), "application/pgp-keys", {}, max_parts,
                               max_bytes);
}

const std::string kMixed =
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    "--b1\r\nContent-Type: application/PGP-keys\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "a2V5IG9uZQ==\r\n"
    "--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    "From: x@y\r\nContent-Type: application/pgp-keys\r\n\r\nforwarded key\r\n"
    "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
    "--b2\r\nContent-Type: application/pgp-keys\r\n\r\nkey two\r\n--b2--\r\n"
    "--b1--\r\n";

TEST(MimeParts, DecodedKeysOutsideAttachedMessagesOnly) {
  auto k = keys_in(kMixed);
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0], "key one");  // base64 decoded; the type compared case-insensitively
  EXPECT_EQ(k[1].rfind("key two", 0), 0u);
  for (const auto& s : k) EXPECT_EQ(s.find("forwarded"), std::string::npos);
}

TEST(MimeParts, LimitsAndSinglePart) {
  EXPECT_EQ(keys_in(kMixed, 1).size(), 1u);
  EXPECT_EQ(keys_in(kMixed, 4, 5).size(), 0u);  // both larger than 5 bytes: skipped
  auto single = keys_in("Content-Type: application/pgp-keys\r\n\r\nonly\r\n");
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].rfind("only", 0), 0u);
  EXPECT_TRUE(keys_in("Content-Type: text/plain\r\n\r\nno keys\r\n").empty());
}

}  // namespace
}  // namespace mailseal::mime
