// Tests for mime::parse_entity (strictness, S/MIME recognition), canonicalisation to
// 7-bit CRLF, transfer decoding, and the exact-byte multipart/signed locator.
#include "mime/entity.h"

#include <gtest/gtest.h>

#include <vector>

namespace mailseal::mime {
namespace {

Entity parse(const std::string& s, Limits limits = {}) {
  return parse_entity(source_from_string(s), limits);
}

TEST(MimeClassify, Table) {
  struct Case {
    const char* type;
    const char* smime;
    const char* protocol;
    SmimeKind want;
  };
  for (const Case& c : {
           Case{"application/pkcs7-mime", "enveloped-data", "", SmimeKind::enveloped},
           Case{"application/x-pkcs7-mime", "enveloped-data", "", SmimeKind::enveloped},
           Case{"application/pkcs7-mime", "authenveloped-data", "", SmimeKind::auth_enveloped},
           Case{"application/pkcs7-mime", "signed-data", "", SmimeKind::signed_data},
           Case{"application/pkcs7-mime", "certs-only", "", SmimeKind::other_pkcs7},
           Case{"multipart/signed", "", "application/pkcs7-signature", SmimeKind::multipart_signed},
           Case{"multipart/signed", "", "application/x-pkcs7-signature",
                SmimeKind::multipart_signed},
           Case{"multipart/signed", "", "application/pgp-signature", SmimeKind::none},
           Case{"text/plain", "", "", SmimeKind::none},
       }) {
    EXPECT_EQ(classify(c.type, c.smime, c.protocol), c.want) << c.type << " " << c.smime;
  }
}

TEST(MimeParse, HeadersBodyOffsetAndKind) {
  std::string msg =
      "From: a@example.org\r\nSubject: hi\r\n there\r\nContent-Type: Application/X-PKCS7-MIME;"
      " smime-type=enveloped-data; name=smime.p7m\r\n\r\nQUJD\r\n";
  Entity e = parse(msg);
  ASSERT_TRUE(e.ok) << e.error;
  ASSERT_EQ(e.headers.size(), 3u);
  EXPECT_EQ(e.headers[0].name, "From");
  EXPECT_EQ(e.headers[0].value, "a@example.org");
  EXPECT_EQ(e.headers[1].value, "hi\r\n there");
  EXPECT_EQ(e.headers[2].name, "Content-Type");
  EXPECT_EQ(msg.substr(e.body_offset), "QUJD\r\n");
  EXPECT_EQ(e.smime, SmimeKind::enveloped);
  EXPECT_EQ(parse("Subject: x\n\nbody\n").body_offset, 12u);
}

TEST(MimeParse, StrictRejectsAmbiguity) {
  EXPECT_FALSE(parse("Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx\r\n").ok);
  EXPECT_FALSE(parse("Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\na\r\n--x--\r\n").ok);
  std::string deep = "Content-Type: multipart/mixed; boundary=b0\r\n\r\n";
  for (int i = 1; i <= 10; ++i)
    deep += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
            std::to_string(i) + "\r\n\r\n";
  EXPECT_FALSE(parse(deep).ok);
  EXPECT_TRUE(parse(deep, Limits{20, 1000}).ok);
}

TEST(MimeParse, FlagsEncryptedPartInsideMultipart) {
  std::string msg =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "hi\r\n--b\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\n";
  Entity e = parse(msg);
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.smime, SmimeKind::none);
  EXPECT_TRUE(e.encrypted_part_inside);
}

TEST(MimeCanonical, SevenBitCrlfAndOnlyContentHeaders) {
  std::string msg =
      "From: a@example.org\nSubject: s\nContent-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9f"
      "e\nzweite Zeile\n";
  std::string out;
  std::string err;
  ASSERT_TRUE(write_canonical_entity(
      source_from_string(msg),
      [&](std::string_view b) {
        out.append(b);
        return true;
      },
      &err))
      << err;
  EXPECT_EQ(out.find("From:"), std::string::npos);
  EXPECT_NE(out.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos) << out;
  // GMime picks quoted-printable or base64 by the share of 8-bit bytes.
  EXPECT_NE(out.find("Content-Transfer-Encoding: base64\r\n"), std::string::npos) << out;
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_LT(static_cast<unsigned char>(out[i]), 0x80) << i;
    if (out[i] == '\n') {
      EXPECT_TRUE(i > 0 && out[i - 1] == '\r') << i;
    }
  }
  // Already canonical CRLF 7-bit input keeps its body bytes.
  std::string plain = "Content-Type: text/plain\r\n\r\nline\r\n";
  out.clear();
  ASSERT_TRUE(write_canonical_entity(
      source_from_string(plain),
      [&](std::string_view b) {
        out.append(b);
        return true;
      },
      &err));
  EXPECT_EQ(out, plain);
}

TEST(MimeFields, WithoutFieldsDropsFoldedFieldsOnly) {
  auto run = [](const std::string& msg) {
    std::string out;
    EXPECT_TRUE(write_without_fields(source_from_string(msg), {"Bcc", "Resent-Bcc"},
                                     [&](std::string_view b) {
                                       out.append(b);
                                       return true;
                                     }));
    return out;
  };
  EXPECT_EQ(run("To: a\r\nBCC: b,\r\n\tc\r\nBccx: keep\r\nResent-Bcc: d\r\n\r\nBcc: body\r\n"),
            "To: a\r\nBccx: keep\r\n\r\nBcc: body\r\n");
  EXPECT_EQ(run("Bcc: b\nTo: a\n\nx\n"), "To: a\n\nx\n");
  EXPECT_EQ(run("To: a\r\nBcc: b\r\n"), "To: a\r\n");
}

// Decoded content of each leaf part of a canonical entity, in order.
std::vector<std::string> decoded_leaves(const std::string& entity) {
  std::vector<std::string> out;
  Entity e = parse_entity(source_from_string(entity), {}, false);
  if (e.boundary.empty()) {
    std::string d, err;
    write_decoded_content(
        source_from_string(entity),
        [&](std::string_view b) {
          d.append(b);
          return true;
        },
        &err);
    out.push_back(d);
    return out;
  }
  std::string delim = "--" + e.boundary;
  std::size_t pos = entity.find(delim);
  while (pos != std::string::npos) {
    std::size_t start = entity.find("\r\n", pos) + 2;
    std::size_t next = entity.find(delim, start);
    if (next == std::string::npos || entity.compare(pos, delim.size() + 2, delim + "--") == 0)
      break;
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
    std::string part = entity.substr(start, next - 2 - start);
    std::string d, err;
    write_decoded_content(
        source_from_string(part),
        [&](std::string_view b) {
          d.append(b);
          return true;
        },
        &err);
    out.push_back(d);
    pos = next;
  }
  return out;
}

std::string canonical(const std::string& msg) {
  std::string out, err;
  EXPECT_TRUE(write_canonical_entity(
      source_from_string(msg),
      [&](std::string_view b) {
        out.append(b);
        return true;
      },
      &err))
      << err;
  return out;
}

TEST(MimeCanonical, TextPartsAreSignedWithCrlfWhateverTheirEncoding) {
  // 8-bit text with bare LF: GMime picks base64; the decoded text must be CRLF.
  std::string eight =
      "From: a@example.org\nContent-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9f\xc3\xa4\nzw\xc3\xa4\n";
  std::string out = canonical(eight);
  EXPECT_NE(out.find("Content-Transfer-Encoding: base64\r\n"), std::string::npos) << out;
  EXPECT_EQ(decoded_leaves(out),
            std::vector<std::string>{"Gr\xc3\xbc\xc3\x9f\xc3\xa4\r\nzw\xc3\xa4\r\n"});
  // Already base64, LF inside; and an octet-stream part that must stay as it is.
  std::string mixed =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "b25lCnR3bwo=\r\n--b\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nAQoCCg==\r\n--b--\r\n";
  EXPECT_EQ(decoded_leaves(canonical(mixed)),
            (std::vector<std::string>{"one\r\ntwo\r\n", std::string("\x01\n\x02\n", 4)}));
  // Canonical 8-bit CRLF text keeps its decoded bytes.
  std::string crlf =
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "\xc3\xa4\xc3\xa4\r\nx\r\n";
  EXPECT_EQ(decoded_leaves(canonical(crlf)), std::vector<std::string>{"\xc3\xa4\xc3\xa4\r\nx\r\n"});
}

TEST(MimeDecode, Base64Part) {
  std::string msg =
      "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n/w==\r\n";
  std::string out, err;
  ASSERT_TRUE(write_decoded_content(
      source_from_string(msg),
      [&](std::string_view b) {
        out.append(b);
        return true;
      },
      &err));
  EXPECT_EQ(out, std::string("\x00\x01\x02\xff", 4));
}

TEST(MimeSigned, BuildThenLocateGivesExactBytes) {
  std::string b = make_boundary();
  EXPECT_NE(make_boundary(), b);
  std::string content = "Content-Type: text/plain\r\n\r\nsigned text\r\n";
  std::string msg = signed_multipart_head(b) + content + signed_multipart_middle(b) + "QUJD\r\n" +
                    signed_multipart_tail(b);
  Entity e = parse(msg);
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.smime, SmimeKind::multipart_signed);
  ASSERT_EQ(e.boundary, b);
  std::string body = msg.substr(e.body_offset);
  SignedParts sp = locate_signed_parts(source_from_string(body), b);
  ASSERT_TRUE(sp.ok) << sp.error;
  EXPECT_EQ(body.substr(sp.content_offset, sp.content_length), content);
  std::string sig = body.substr(sp.signature_offset, sp.signature_length);
  EXPECT_EQ(sig.rfind("Content-Type: application/pkcs7-signature", 0), 0u);
  EXPECT_EQ(sig.substr(sig.size() - 6), "QUJD\r\n");
}

TEST(MimeSigned, LocatorRejectsWrongShapes) {
  struct Case {
    const char* name;
    std::string body;
  };
  for (const Case& c : {
           Case{"no close", "--b\r\nx\r\n--b\r\ny\r\n"},
           Case{"three parts", "--b\r\nx\r\n--b\r\ny\r\n--b\r\nz\r\n--b--\r\n"},
           Case{"one part", "--b\r\nx\r\n--b--\r\n"},
           Case{"no delimiter", "hello\r\n"},
       }) {
    EXPECT_FALSE(locate_signed_parts(source_from_string(c.body), "b").ok) << c.name;
  }
  SignedParts ok = locate_signed_parts(source_from_string("pre\n--b\nA\n--b \nS\n--b--\n"), "b");
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok.content_offset, 8u);
  EXPECT_EQ(ok.content_length, 1u);
}

// The locator reads 64 KiB at a time: delimiters and line ends that straddle a piece
// boundary, CRLF and LF, and lines that only look like delimiters.
TEST(MimeSigned, LocatorIsExactAcrossPieceBoundaries) {
  for (const std::string eol : {"\r\n", "\n"}) {
    for (std::size_t shift = 0; shift < 8; ++shift) {
      std::string content;
      for (int i = 0; content.size() < 65530 - shift; ++i)
        content += (i % 50 == 0   ? "--bb not a delimiter"
                    : i % 51 == 0 ? "--b-"
                                  : "line") +
                   std::string(static_cast<std::size_t>(i % 70), 'x') + eol;
      std::string body = "--b" + eol + content + eol + "--b" + eol + "SIG" + eol + "--b--" + eol;
      SignedParts sp = locate_signed_parts(source_from_string(body), "b");
      ASSERT_TRUE(sp.ok) << sp.error << " shift " << shift;
      EXPECT_EQ(sp.content_offset, 3 + eol.size());
      EXPECT_EQ(body.substr(sp.content_offset, sp.content_length), content) << shift;
      EXPECT_EQ(body.substr(sp.signature_offset, sp.signature_length), "SIG");
    }
  }
}

TEST(MimeBuild, Pkcs7HeadersAndHeaderBlock) {
  EXPECT_NE(pkcs7_mime_headers(SmimeKind::auth_enveloped).find("smime-type=authEnveloped-data"),
            std::string::npos);
  EXPECT_EQ(header_block({{"From", "a@b"}, {"To", "c@d"}}), "From: a@b\r\nTo: c@d\r\n");
  EXPECT_TRUE(is_kept_outer_header("list-id"));
  EXPECT_FALSE(is_kept_outer_header("Bcc"));
  EXPECT_FALSE(is_kept_outer_header("X-Mailer"));
}

}  // namespace
}  // namespace mailseal::mime

namespace mailseal::mime {
namespace {

std::string read_all(const Source& s) {
  std::string out;
  char buf[3];  // small on purpose: reads that end inside a part and cross into the next
  for (std::size_t off = 0;;) {
    long n = s.read_at(off, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += static_cast<std::size_t>(n);
  }
  return out;
}

TEST(ConcatSource, ReadsThePartsInOrderAtAnyOffset) {
  std::string a = "head\r\n", b = "", c = "entity bytes", d = "tail";
  Source s = concat_source(
      {source_from_string(a), source_from_string(b), source_from_string(c), source_from_string(d)});
  EXPECT_EQ(s.size, a.size() + c.size() + d.size());
  EXPECT_EQ(read_all(s), a + c + d);
  char buf[8];
  EXPECT_EQ(s.read_at(a.size() + 2, buf, sizeof buf), 8);  // inside the third part
  EXPECT_EQ(std::string(buf, 8), "tity byt");
  EXPECT_EQ(s.read_at(s.size, buf, sizeof buf), 0);
  EXPECT_EQ(s.read_at(s.size + 10, buf, sizeof buf), 0);
}

TEST(ParseHeaderBlock, GivesTheHeaderWithoutReadingTheBody) {
  std::string msg =
      "From: a@example.org\r\nTo: b@example.net\r\nBcc: c@example.net\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: "
      "text/plain\r\n\r\n"
      "hello\r\n--XX--\r\n";
  for (int i = 0; i < 2000; ++i) msg.insert(msg.find("hello"), std::string(98, 'y') + "\r\n");
  std::size_t reads_past_header = 0;
  const std::size_t header_end = msg.find("\r\n\r\n") + 4;
  Source counting{[&](std::size_t off, char* buf, std::size_t n) -> long {
                    if (off >= msg.size()) return 0;
                    if (off >= header_end) ++reads_past_header;
                    std::size_t k = std::min(n, msg.size() - off);
                    std::copy_n(msg.data() + off, k, buf);
                    return static_cast<long>(k);
                  },
                  msg.size()};
  Entity e = parse_header_block(counting);
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.body_offset, header_end);
  EXPECT_EQ(e.mime_type, "multipart/mixed");
  EXPECT_EQ(e.boundary, "XX");
  std::vector<std::string> names;
  for (const auto& h : e.headers) names.push_back(h.name);
  EXPECT_EQ(names, (std::vector<std::string>{"From", "To", "Bcc", "MIME-Version", "Content-Type"}));
  // A 200 KB body: a full parse reads all of it; find_body_offset reads one 8 KB chunk
  // from 0, which holds the blank line, and the header parse reads only up to it.
  EXPECT_EQ(reads_past_header, 0u);
  reads_past_header = 0;
  (void)parse_entity(counting, {}, false);
  EXPECT_GT(reads_past_header, 0u);  // the counter does see a full parse
}

}  // namespace
}  // namespace mailseal::mime

namespace mailseal::mime {
namespace {

std::string gmime_canonical(const std::string& msg) {
  std::string out;
  std::string why;
  EXPECT_TRUE(write_canonical_entity(
      source_from_string(msg),
      [&out](std::string_view b) {
        out.append(b);
        return true;
      },
      &why))
      << why;
  return out;
}

std::string read_source(const Source& s) {
  std::string out(s.size, '\0');
  for (std::size_t got = 0; got < out.size();) {
    long n = s.read_at(got, out.data() + got, out.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return out;
}

const char* kCanonical =
    "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n\r\n"
    "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello,\r\nworld.\r\n"
    "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "AAECAwQFBgcICQ==\r\n--b1--\r\n";

TEST(CanonicalInPlace, AnAlreadyCanonicalMessageIsReadInPlaceAsGMimeWouldWriteIt) {
  std::string msg = kCanonical, head;
  auto in_place = canonical_entity_in_place(source_from_string(msg), head);
  ASSERT_TRUE(in_place);
  std::string got = read_source(*in_place);
  EXPECT_EQ(got.rfind("Content-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n\r\n--b1\r\n", 0), 0u)
      << got;
  EXPECT_EQ(got.find("From:"), std::string::npos);
  EXPECT_EQ(got.find("MIME-Version"), std::string::npos);
  // The body is the message's own bytes.
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), msg.substr(msg.find("\r\n\r\n") + 4));
  // And the same entity GMime writes, so the choice does not change what gets signed.
  EXPECT_EQ(got, gmime_canonical(msg));
}

// One encoded leaf part that is not text: taken in place without asking GMime's parser
// (leaf_kept_as_encoded), and still exactly what GMime writes.
TEST(CanonicalInPlace, AnEncodedLeafIsTakenAsGMimeWouldWriteIt) {
  const char* cases[] = {
      "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream;"
      " name=\"d.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: "
      "attachment\r\n\r\nAAECAwQF\r\nBgcICQ==\r\n",
      "From: a@example.org\r\nContent-Type: APPLICATION/PDF\r\nContent-Transfer-Encoding: "
      "Quoted-Printable\r\nSubject: qp\r\n\r\n%PDF-1.4 =3D=0A\r\n",
      "Content-Transfer-Encoding: base64\r\nContent-Type: application/pkcs7-mime;\r\n "
      "smime-type=enveloped-data; name=smime.p7m\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n",
  };
  // The longest line RFC 5322 allows (998 octets) is still canonical.
  const std::string longest =
      "Content-Type: application/octet-stream\r\nContent-Transfer-"
      "Encoding: quoted-printable\r\n\r\n" +
      std::string(998, 'q') + "\r\nshort\r\n";
  std::vector<std::string> all(std::begin(cases), std::end(cases));
  all.push_back(longest);
  for (const std::string& c : all) {
    std::string msg = c, head;
    auto in_place = canonical_entity_in_place(source_from_string(msg), head);
    ASSERT_TRUE(in_place) << c;
    EXPECT_EQ(read_source(*in_place), gmime_canonical(msg)) << c;
  }
}

TEST(CanonicalInPlace, AnythingGMimeWouldChangeIsLeftToIt) {
  std::string head;
  auto check = [&](std::string msg, const char* why) {
    EXPECT_FALSE(canonical_entity_in_place(source_from_string(msg), head)) << why;
  };
  std::string base = kCanonical;
  check("From: a@example.org\r\nSubject: x\r\n\r\nno content type\r\n", "no Content-Type");
  std::string eight = base;
  eight.replace(eight.find("Hello"), 5, "H\xc3\xa9llo");
  check(eight, "8-bit body");
  std::string bare_lf = base;
  bare_lf.replace(bare_lf.find("Hello,\r\n"), 8, "Hello,\n");
  check(bare_lf, "bare LF in the body");
  std::string bare_cr = base;
  bare_cr.replace(bare_cr.find("Hello,\r\n"), 8, "Hello,\r");
  check(bare_cr, "bare CR in the body");
  std::string long_line = base;
  long_line.replace(long_line.find("Hello,"), 6, std::string(999, 'h'));
  check(long_line, "a line over 998 octets");
  // A base64 text part whose decoded text has bare LF: GMime converts it (RFC 8551 3.1.1).
  check(
      "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8Kd29ybGQK\r\n",
      "base64 text with bare LF inside");
}

}  // namespace
}  // namespace mailseal::mime
