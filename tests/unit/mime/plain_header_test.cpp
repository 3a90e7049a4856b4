// The plain header reader against GMime's parser: every block it takes must give the
// entity GMime gives; every block it declines goes to GMime (entity.h).
#include "mime/plain_header.h"

#include <gtest/gtest.h>

#include <string>

#include "mime/entity.h"

namespace mailseal::mime {
namespace {

void expect_same_as_gmime(const std::string& message) {
  Entity plain = parse_header_block(source_from_string(message));
  Entity gmime = parse_header_block_with_gmime(source_from_string(message));
  EXPECT_EQ(plain.ok, gmime.ok);
  ASSERT_EQ(plain.headers.size(), gmime.headers.size()) << message;
  for (std::size_t i = 0; i < plain.headers.size(); ++i) {
    EXPECT_EQ(plain.headers[i].name, gmime.headers[i].name) << message;
    EXPECT_EQ(plain.headers[i].value, gmime.headers[i].value) << message;
  }
  EXPECT_EQ(plain.body_offset, gmime.body_offset) << message;
  EXPECT_EQ(plain.mime_type, gmime.mime_type) << message;
  EXPECT_EQ(plain.boundary, gmime.boundary) << message;
  EXPECT_EQ(plain.signature_protocol, gmime.signature_protocol) << message;
  EXPECT_EQ(plain.smime, gmime.smime) << message;
  EXPECT_EQ(plain.encrypted_part_inside, gmime.encrypted_part_inside) << message;
}

std::string block_of(const std::string& message) {
  std::size_t crlf = message.find("\r\n\r\n"), lf = message.find("\n\n");
  if (crlf != std::string::npos && (lf == std::string::npos || crlf + 1 <= lf))
    return message.substr(0, crlf + 4);
  return message.substr(0, lf + 2);
}

const char* kTaken[] = {
    // what mail clients send
    "From: Bench Sender <sender@bench.test>\r\nTo: <a@x.test>, b@y.test\r\nSubject: s\r\n"
    "Date: Thu, 26 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@bench.test>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
    "filename=\"data.bin\"\r\n\r\nAAAA\r\n",
    // LF line ends, folding with tab and space, Content-* between others
    "From: a@example.org\nSubject: a folded\n\tsubject\n  line\nContent-Type: text/plain;\n"
    " charset=us-ascii\nX-After: 1\nContent-Transfer-Encoding: 7bit\n\nbody\n",
    // multipart/signed, quoted parameters, mixed case
    "From: a@example.org\r\nContent-Type: Multipart/Signed; "
    "protocol=\"Application/PKCS7-Signature\";"
    "\r\n micalg=sha-256; boundary=\"----=_b 1\"\r\n\r\n------=_b 1\r\n",
    // opaque S/MIME
    "To: b@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n"
    "\tname=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAG\r\n",
    "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n\r\n",
    // no Content-Type, empty values, colons in values, unusual field names
    "From: a@example.org\r\nX-Empty:\r\nX-Blank:   \r\nX-Time: 12:30:00\r\nX-A.b_c-1!: v\r\n\r\n",
    // header only, nothing after the empty line
    "Subject: only\r\n\r\n",
    // RFC 2231 parameter, a comment, upper case
    "Content-Type: multipart/mixed; boundary*=us-ascii''%3Dabc\r\n\r\n",
    "Content-Type: TEXT/PLAIN (a comment); CHARSET=UTF-8\r\n\r\n",
    "Content-Type: garbage\r\n\r\n",
    "Content-Type: multipart/alternative; boundary=\"=_abc\"\r\nMIME-Version: 1.0\r\n\r\n",
    "Content-Type: application/pgp-encrypted\r\nContent-Type-X: not a content type\r\n\r\n",
    "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x\r\n\r\n",
};

TEST(PlainHeader, GivesWhatGMimeGives) {
  for (const char* m : kTaken) {
    SCOPED_TRACE(m);
    ASSERT_TRUE(plain_header_fields(block_of(m), 1000)) << "the plain reader declined";
    expect_same_as_gmime(m);
  }
}

TEST(PlainHeader, DeclinesWhatIsNotPlain) {
  const char* declined[] = {
      "Subject: caf\xc3\xa9\r\n\r\n",          // 8-bit
      "Subject: a\rb\r\n\r\n",                 // bare CR
      "Subject: x\r\nno colon here\r\n\r\n",   // not a field
      "Subject : x\r\n\r\n",                   // blank before the colon
      " folded: first\r\nSubject: x\r\n\r\n",  // continuation without a field
      "Subject: x\r\n",                        // no empty line
      "Subject: x\r\n\r\ntrailing",            // more than the block
      "Subj\x01"
      "ect: x\r\n\r\n",  // control character in the name
  };
  for (const char* b : declined) EXPECT_FALSE(plain_header_fields(b, 1000)) << b;
  EXPECT_FALSE(plain_header_fields(std::string("Subject: a\0b\r\n\r\n", 16), 1000));
  EXPECT_FALSE(plain_header_fields("A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2))
      << "more fields than allowed";
  EXPECT_TRUE(plain_header_fields("A: 1\r\nB: 2\r\n\r\n", 2));
}

TEST(PlainHeader, DeclinedBlocksStillGetGMimesAnswer) {
  // Through parse_header_block: the reader declines, GMime answers, nothing differs.
  for (const char* m : {"Subject: caf\xc3\xa9\r\nContent-Type: text/plain\r\n\r\nx\r\n",
                        "Subject: x\r\nno colon here\r\nContent-Type: text/html\r\n\r\n",
                        "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n"})
    expect_same_as_gmime(m);
}

}  // namespace
}  // namespace mailseal::mime
