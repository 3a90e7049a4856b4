// The base64 fast path of write_decoded_content against GMime's decoder: clean bodies
// are decoded without GMime to the same bytes; anything else is left to GMime.
#include "mime/clean_base64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "mime/entity.h"

namespace mailseal::mime {
namespace {

std::string b64(const std::string& raw, std::size_t line, const char* eol) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string flat;
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= static_cast<unsigned char>(raw[i + 1]) << 8;
    if (i + 2 < raw.size()) v |= static_cast<unsigned char>(raw[i + 2]);
    flat += a[v >> 18];
    flat += a[(v >> 12) & 63];
    flat += i + 1 < raw.size() ? a[(v >> 6) & 63] : '=';
    flat += i + 2 < raw.size() ? a[v & 63] : '=';
  }
  std::string out;
  for (std::size_t i = 0; i < flat.size(); i += line) out += flat.substr(i, line) + eol;
  return out;
}

std::string entity(const std::string& body, const char* eol = "\r\n") {
  return std::string("Content-Type: application/pkcs7-mime; smime-type=enveloped-data;") + eol +
         " name=smime.p7m" + eol + "Content-Transfer-Encoding: base64" + eol + eol + body;
}

std::string decoded(const std::string& e, bool gmime) {
  std::string out;
  auto append = [&out](std::string_view b) {
    out.append(b);
    return true;
  };
  std::string err;
  bool ok = gmime ? write_decoded_content_with_gmime(source_from_string(e), append, &err)
                  : write_decoded_content(source_from_string(e), append, &err);
  EXPECT_TRUE(ok) << err;
  return out;
}

TEST(CleanBase64, DecodesLikeGMime) {
  std::mt19937 rng(7);
  for (std::size_t len : {0u, 1u, 2u, 3u, 4u, 5u, 56u, 57u, 58u, 1000u, 70000u}) {
    std::string raw(len, '\0');
    for (auto& c : raw) c = static_cast<char>(rng());
    for (std::size_t line : {76u, 64u, 4u, 7u, 73u, 100000u}) {  // 7, 73: groups split by line ends
      for (const char* eol : {"\r\n", "\n"}) {
        std::string body = b64(raw, line, eol);
        ASSERT_TRUE(decode_clean_base64(source_from_string(body), [](std::string_view) {
          return true;
        })) << "clean body declined";
        std::string e = entity(body, eol);
        EXPECT_EQ(decoded(e, false), raw);
        EXPECT_EQ(decoded(e, true), raw);
      }
    }
  }
}

TEST(CleanBase64, LeavesAnythingElseToGMime) {
  const char* unclean[] = {
      "QUJD REVG\r\n",     // a space
      "QUJDREVG \r\n",     // trailing blank
      "QUJD*REVG\r\n",     // stray character
      "QUJDREV\r\n",       // not whole groups
      "QUJ=REVG\r\n",      // data after padding
      "QQ==QQ==\r\n",      // padding in the middle
      "QUJD\rREVG\r\n",    // CR without LF
      "QUJDREVG\r\n\x80",  // 8-bit
  };
  for (const char* body : unclean) {
    EXPECT_FALSE(decode_clean_base64(source_from_string(body), [](std::string_view) {
      return true;
    })) << body;
    std::string e = entity(body);
    EXPECT_EQ(decoded(e, false), decoded(e, true)) << body;
  }
}

TEST(CleanBase64, OnlyASinglePartIsDecodedWithoutGMime) {
  // multipart: GMime's "not a single part" answer, not a decoded body
  std::string e =
      "Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64"
      "\r\n\r\nQUJD\r\n";
  std::string err;
  EXPECT_FALSE(write_decoded_content(
      source_from_string(e), [](std::string_view) { return true; }, &err));
  EXPECT_FALSE(write_decoded_content_with_gmime(
      source_from_string(e), [](std::string_view) { return true; }, &err));
}

}  // namespace
}  // namespace mailseal::mime
