// Tests for the callback BIO adapters: chunked reads, append with LF->CRLF, base64 chain.
#include "crypto/bio_adapter.h"

#include <gtest/gtest.h>

#include <string>

namespace mailseal::crypto {
namespace {

// A body that serves at most 7 bytes per read_at, like a short read from a file.
struct FakeBody {
  std::string data;
  bool fail = false;
  long read_at(std::size_t off, char* buf, std::size_t n) const {
    if (fail) return -1;
    if (off >= data.size()) return 0;
    std::size_t k = std::min({n, data.size() - off, std::size_t{7}});
    std::copy_n(data.data() + off, k, buf);
    return static_cast<long>(k);
  }
  void append(std::string_view s) { data.append(s); }
  bool ok() const { return !fail; }
};

TEST(BioAdapter, ReadsWholeBodyInShortChunks) {
  FakeBody body{std::string(1000, 'x') + "end"};
  BioPtr bio = read_bio_over(body);
  std::string got;
  char buf[64];
  int n;
  while ((n = BIO_read(bio.get(), buf, sizeof buf)) > 0) got.append(buf, n);
  EXPECT_EQ(got, body.data);
  EXPECT_EQ(BIO_eof(bio.get()), 1);
}

TEST(BioAdapter, ReadErrorIsReported) {
  FakeBody body{"abc", true};
  BioPtr bio = read_bio_over(body);
  char buf[8];
  EXPECT_LE(BIO_read(bio.get(), buf, sizeof buf), 0);
  EXPECT_EQ(BIO_eof(bio.get()), 0);
}

TEST(BioAdapter, AppendsAndTranslatesNewlines) {
  struct Case {
    bool crlf;
    std::string in, want;
  };
  for (const Case& c :
       {Case{false, "a\nb\n", "a\nb\n"}, Case{true, "a\nb\n", "a\r\nb\r\n"}, Case{true, "", ""}}) {
    FakeBody body;
    BioPtr bio = append_bio_over(body, c.crlf);
    if (!c.in.empty()) {
      ASSERT_EQ(BIO_write(bio.get(), c.in.data(), static_cast<int>(c.in.size())),
                static_cast<int>(c.in.size()));
    }
    EXPECT_EQ(BIO_flush(bio.get()), 1);
    EXPECT_EQ(body.data, c.want);
  }
}

TEST(BioAdapter, AppendFailureIsReported) {
  FakeBody body;
  body.fail = true;
  BioPtr bio = append_bio_over(body);
  EXPECT_LE(BIO_write(bio.get(), "abc", 3), 0);
}

TEST(BioAdapter, Base64EncoderWritesCrlfLines) {
  FakeBody body;
  BioPtr chain = base64_encoder_over(append_bio_over(body, true));
  std::string in(100, '\xff');
  ASSERT_EQ(BIO_write(chain.get(), in.data(), 100), 100);
  ASSERT_EQ(BIO_flush(chain.get()), 1);
  // 100 bytes -> 136 base64 chars: one full 64-char line, one of 64, one of 8.
  EXPECT_EQ(body.data.substr(64, 2), "\r\n");
  EXPECT_EQ(body.data.size(), 136u + 3 * 2);
  EXPECT_EQ(body.data.substr(body.data.size() - 2), "\r\n");
  EXPECT_EQ(body.data.find("\n\n"), std::string::npos);
}

}  // namespace
}  // namespace mailseal::crypto
