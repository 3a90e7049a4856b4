// parse_cms_detached: large CMS with the content left in storage and streamed. Indefinite
// (streamed BER, constructed OCTET STRING chunks) and definite (DER, one primitive OCTET
// STRING) encodings, enveloped, authEnveloped and signed-data; truncation, damaged chunk
// headers and a flipped GCM ciphertext byte; output equal to the in-memory path.
#include <gtest/gtest.h>

#include <cstring>

#include "crypto/smime/smime.h"
#include "test_pki.h"

namespace mailseal::crypto::smime {
namespace {

using testpki::Identity;
using testpki::mem_bio;

struct Keys {
  Identity ca = testpki::make_ca("Detached CA");
  Identity alice = testpki::make_leaf(ca, {"alice@example.org"});
  Identity bob =
      testpki::make_leaf(ca, {"bob@example.net", testpki::Alg::ec, -1, 365, "emailProtection", 3});
};
Keys& keys() {
  static Keys k;
  return k;
}

// About 300 KiB of CRLF text, so that streamed encodings have many chunks.
const std::string& big_content() {
  static const std::string s = [] {
    std::string c = "Content-Type: text/plain\r\n\r\n";
    for (int i = 0; c.size() < 300 * 1024; ++i) c += "line " + std::to_string(i) + "\r\n";
    return c;
  }();
  return s;
}

std::string encrypt_ber(Cipher cipher) {
  BioPtr in = mem_bio(big_content());
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_TRUE(encrypt(in.get(), out.get(), {keys().bob.cert.get()}, {cipher, false}).ok());
  return testpki::bio_string(out.get());
}

std::string sign_ber() {
  BioPtr in = mem_bio(big_content());
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_TRUE(
      sign(in.get(), out.get(), {keys().alice.cert.get(), keys().alice.key.get(), {}}, {true})
          .ok());
  return testpki::bio_string(out.get());
}

// The same structure re-encoded by OpenSSL as DER (definite lengths, primitive content).
std::string to_der(const std::string& ber) {
  BioPtr in = mem_bio(ber);
  ParsedCms p = parse_cms(in.get());
  EXPECT_TRUE(p.status.ok());
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_EQ(i2d_CMS_bio(out.get(), p.cms.get()), 1);
  return testpki::bio_string(out.get());
}

DetachedCms detach(const std::string& bytes) {
  return parse_cms_detached(
      [&bytes](std::size_t off, char* buf, std::size_t n) -> long {
        if (off >= bytes.size()) return 0;
        std::size_t k = std::min(n, bytes.size() - off);
        std::memcpy(buf, bytes.data() + off, k);
        return static_cast<long>(k);
      },
      bytes.size());
}

DecryptResult decrypt_detached(const std::string& bytes, std::string* plain) {
  DetachedCms d = detach(bytes);
  if (!d.parsed.status.ok()) {
    DecryptResult r;
    r.status = d.parsed.status;
    return r;
  }
  BioPtr content = d.content();
  BioPtr out(BIO_new(BIO_s_mem()));
  DecryptResult r = decrypt(d.parsed.cms.get(), out.get(),
                            {{keys().bob.cert.get(), keys().bob.key.get()}}, content.get());
  *plain = testpki::bio_string(out.get());
  return r;
}

TEST(SmimeDetached, EnvelopedIndefiniteAndDefiniteDecryptAsInMemory) {
  for (Cipher cipher : {Cipher::aes256_cbc, Cipher::aes256_gcm}) {
    std::string ber = encrypt_ber(cipher);
    for (const std::string& bytes : {ber, to_der(ber)}) {
      DetachedCms d = detach(bytes);
      ASSERT_TRUE(d.parsed.status.ok()) << d.parsed.status.reason;
      EXPECT_EQ(d.parsed.kind, cipher == Cipher::aes256_gcm ? CmsKind::auth_enveloped_data
                                                            : CmsKind::enveloped_data);
      EXPECT_TRUE(d.has_content());
      EXPECT_GE(d.content_size, big_content().size());
      std::string plain;
      DecryptResult r = decrypt_detached(bytes, &plain);
      ASSERT_TRUE(r.status.ok()) << r.status.reason;
      EXPECT_EQ(r.authenticated, cipher == Cipher::aes256_gcm);
      EXPECT_TRUE(plain == big_content());
    }
  }
}

TEST(SmimeDetached, OpaqueSignedDataVerifiesStreamed) {
  X509StorePtr store = make_store({keys().ca.cert.get()});
  VerifyContext ctx{store.get(), {}, std::nullopt, {}};
  std::string ber = sign_ber();
  for (const std::string& bytes : {ber, to_der(ber)}) {
    DetachedCms d = detach(bytes);
    ASSERT_TRUE(d.parsed.status.ok()) << d.parsed.status.reason;
    EXPECT_EQ(d.parsed.kind, CmsKind::signed_data);
    BioPtr content = d.content();
    BioPtr out(BIO_new(BIO_s_mem()));
    Verdict v = verify_opaque(d.parsed.cms.get(), out.get(), ctx, content.get());
    EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
    EXPECT_TRUE(testpki::bio_string(out.get()) == big_content());
  }
  // A changed content byte is a bad signature, not a parse error.
  std::string der = to_der(ber);
  std::size_t at = der.find("line 4242");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'L';
  DetachedCms d = detach(der);
  ASSERT_TRUE(d.parsed.status.ok());
  BioPtr content = d.content();
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_EQ(verify_opaque(d.parsed.cms.get(), out.get(), ctx, content.get()).status,
            VerdictStatus::bad_signature);
}

TEST(SmimeDetached, DamageIsMalformedOrIntegrity) {
  std::string ber = encrypt_ber(Cipher::aes256_gcm);
  std::string plain;
  // Truncated anywhere: malformed (never a short plaintext).
  for (std::size_t cut : {std::size_t{10}, ber.size() / 2, ber.size() - 40, ber.size() - 1}) {
    DecryptResult r = decrypt_detached(ber.substr(0, cut), &plain);
    EXPECT_EQ(r.status.failure, Failure::malformed) << cut << " " << r.status.reason;
  }
  // A flipped ciphertext byte in the middle: the GCM tag fails.
  std::string der = to_der(ber);
  std::string flipped = der;
  flipped[der.size() / 2] ^= 0x01;
  EXPECT_EQ(decrypt_detached(flipped, &plain).status.failure, Failure::integrity);
  // A chunk that is not an OCTET STRING inside the constructed encryptedContent.
  std::size_t chunk = ber.find(std::string("\xa0\x80\x04", 3));
  ASSERT_NE(chunk, std::string::npos);
  std::string bad_chunk = ber;
  bad_chunk[chunk + 2] = 0x05;
  EXPECT_EQ(decrypt_detached(bad_chunk, &plain).status.failure, Failure::malformed);
  // Garbage, and a structure around the content larger than allowed.
  EXPECT_EQ(detach("garbage").parsed.status.failure, Failure::malformed);
  EXPECT_EQ(detach(std::string("\x30\x80\x00\x00", 4)).parsed.status.failure, Failure::malformed);
  DetachedCms small = parse_cms_detached(
      [&der](std::size_t off, char* buf, std::size_t n) -> long {
        if (off >= der.size()) return 0;
        std::size_t k = std::min(n, der.size() - off);
        std::memcpy(buf, der.data() + off, k);
        return static_cast<long>(k);
      },
      der.size(), 100);
  EXPECT_EQ(small.parsed.status.failure, Failure::malformed);
}

}  // namespace
}  // namespace mailseal::crypto::smime
