// Interop with Sequoia's sq 0.27 (Debian): sq's keys (secret and cert) import; sq's
// encrypt+sign and detached signatures are opened by mailseal; mailseal's sealed
// messages and detached signatures are read by `sq decrypt` / `sq verify`.
// Known sq 0.27 quirks are stated here, not worked around in mailseal (see README).
#include "openpgp/generate.h"
#include "openpgp/open.h"
#include "openpgp/seal.h"
#include "test_support.h"

namespace mailseal::openpgp {
namespace {

using testing::read_file;
using testing::Scratch;
using testing::write_file;

class SqInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_tool("sq")) GTEST_SKIP() << "sq not installed";
    auto a = generate_key(ring, "alice@example.org", {.name = "Alice"});
    ASSERT_TRUE(a.ok()) << a.error().reason;
    alice = a->fingerprint();
    write_file(s.path("alice.cert"), ring.export_public(alice, false).value());
    write_file(s.path("alice.key"), ring.export_secret(alice, true).value().view());
    // Sam: an sq key (default cipher suite: Cv25519), secret imported into mailseal.
    ASSERT_EQ(s.sq("key generate --userid '<sam@example.net>' --export " + s.q("sam.key")), 0)
        << s.log();
    ASSERT_EQ(s.sq("key extract-cert -o " + s.q("sam.cert") + " " + s.q("sam.key")), 0) << s.log();
  }

  Scratch s;
  Keyring ring = std::move(Keyring::create().value());
  std::string alice;
};

TEST_F(SqInterop, ImportsSqKeyAndCert) {
  auto cert = ring.import_keys(read_file(s.path("sam.cert")));
  ASSERT_TRUE(cert.ok()) << cert.error().reason;
  ASSERT_EQ(cert->size(), 1u);
  EXPECT_FALSE(cert->at(0).has_secret());
  EXPECT_EQ(cert->at(0).emails(), std::vector<std::string>{"sam@example.net"});
  EXPECT_TRUE(ring.key_for_address("sam@example.net", Usage::encrypt).ok());
  auto key = ring.import_keys(read_file(s.path("sam.key")));
  ASSERT_TRUE(key.ok()) << key.error().reason;
  EXPECT_TRUE(key->at(0).has_secret());
  EXPECT_TRUE(ring.key_for_address("sam@example.net", Usage::sign).ok());
}

TEST_F(SqInterop, SqDecryptsAndVerifiesMailseal) {
  auto sam = ring.import_keys(read_file(s.path("sam.cert")));
  ASSERT_TRUE(sam.ok());
  std::string message = testing::sample_mime("to sequoia \r\n");
  std::string sealed;
  ASSERT_TRUE(seal(ring, message, sealed, {sam->at(0).fingerprint()}, alice).ok());
  write_file(s.path("sealed.asc"), sealed);
  ASSERT_EQ(s.sq("decrypt --recipient-key " + s.q("sam.key") + " --signer-cert " +
                 s.q("alice.cert") + " -o " + s.q("plain") + " " + s.q("sealed.asc")),
            0)
      << s.log();
  EXPECT_EQ(read_file(s.path("plain")), message);

  // Negative control: sq refuses when the expected signer is someone else.
  ASSERT_TRUE(ring.import_keys(read_file(s.path("sam.key"))).ok());
  std::string by_sam;
  ASSERT_TRUE(
      seal(ring, message, by_sam, {sam->at(0).fingerprint()}, sam->at(0).fingerprint()).ok());
  write_file(s.path("by_sam.asc"), by_sam);
  EXPECT_NE(s.sq("decrypt --recipient-key " + s.q("sam.key") + " --signer-cert " +
                 s.q("alice.cert") + " -o " + s.q("plain2") + " " + s.q("by_sam.asc")),
            0);
}

TEST_F(SqInterop, SqVerifiesMailsealDetachedSignature) {
  std::string entity = testing::sample_mime();
  std::string sig;
  ASSERT_TRUE(sign_detached(ring, entity, sig, alice).ok());
  write_file(s.path("entity"), entity);
  write_file(s.path("entity.sig"), sig);
  EXPECT_EQ(s.sq("verify --signer-cert " + s.q("alice.cert") + " --detached " + s.q("entity.sig") +
                 " " + s.q("entity")),
            0)
      << s.log();
}

TEST_F(SqInterop, MailsealOpensSqEncryptSign) {
  auto bob = generate_key(ring, "bob@example.com");
  ASSERT_TRUE(bob.ok());
  write_file(s.path("bob.cert"), ring.export_public(bob->fingerprint(), true).value());
  auto sam = ring.import_keys(read_file(s.path("sam.cert")));
  ASSERT_TRUE(sam.ok());
  std::string message = testing::sample_mime("from sequoia\r\n");
  write_file(s.path("msg"), message);
  ASSERT_EQ(s.sq("encrypt --recipient-cert " + s.q("bob.cert") + " --signer-key " + s.q("sam.key") +
                 " -o " + s.q("msg.asc") + " " + s.q("msg")),
            0)
      << s.log();
  std::string plain;
  Verdict v = open(ring, read_file(s.path("msg.asc")), plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(plain, message);
  EXPECT_EQ(v.signer_fingerprint, sam->at(0).fingerprint());
  EXPECT_TRUE(v.signed_by("sam@example.net"));

  // Flip a byte in the middle of sq's ciphertext.
  std::string bin = read_file(s.path("msg.asc"));
  ASSERT_EQ(s.sq("encrypt --binary --recipient-cert " + s.q("bob.cert") + " --signer-key " +
                 s.q("sam.key") + " -o " + s.q("msg.pgp") + " " + s.q("msg")),
            0);
  bin = read_file(s.path("msg.pgp"));
  bin[bin.size() - 40] = static_cast<char>(bin[bin.size() - 40] ^ 0x10);
  plain.clear();
  Verdict t = open(ring, bin, plain);
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.status, VerdictStatus::integrity_failure) << t.reason;
}

TEST_F(SqInterop, MailsealVerifiesSqDetachedAndInlineSignatures) {
  auto sam = ring.import_keys(read_file(s.path("sam.cert")));
  ASSERT_TRUE(sam.ok());
  std::string text = "Signed by sq\r\nsecond line\r\n";
  write_file(s.path("text"), text);
  ASSERT_EQ(s.sq("sign --detached --signer-key " + s.q("sam.key") + " -o " + s.q("text.sig") + " " +
                 s.q("text")),
            0)
      << s.log();
  Verdict d = verify_detached(ring, text, read_file(s.path("text.sig")));
  EXPECT_EQ(d.status, VerdictStatus::valid) << d.reason;
  EXPECT_TRUE(d.signed_by("sam@example.net"));

  ASSERT_EQ(
      s.sq("sign --signer-key " + s.q("sam.key") + " -o " + s.q("inline.asc") + " " + s.q("text")),
      0);
  std::string plain;
  Verdict i = open(ring, read_file(s.path("inline.asc")), plain);
  EXPECT_EQ(i.status, VerdictStatus::valid) << i.reason;
  EXPECT_EQ(plain, text);
}

// sq 0.27's cleartext signatures (sign --cleartext-signature) over text without CRLF or
// trailing spaces verify; over CRLF text with trailing spaces they do not verify
// anywhere (not in gpg, not in sq itself): a peer quirk, stated here, not worked around.
TEST_F(SqInterop, SqCleartextSignature) {
  auto sam = ring.import_keys(read_file(s.path("sam.cert")));
  ASSERT_TRUE(sam.ok());
  write_file(s.path("plain.txt"), "simple text\nsecond line\n");
  ASSERT_EQ(s.sq("sign --cleartext-signature --signer-key " + s.q("sam.key") + " -o " +
                 s.q("clear.asc") + " " + s.q("plain.txt")),
            0)
      << s.log();
  std::string plain;
  Verdict v = open(ring, read_file(s.path("clear.asc")), plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;

  write_file(s.path("crlf.txt"), "trailing space \r\nnext\r\n");
  ASSERT_EQ(s.sq("sign --cleartext-signature --signer-key " + s.q("sam.key") + " -o " +
                 s.q("crlf.asc") + " " + s.q("crlf.txt")),
            0);
  plain.clear();
  Verdict q = open(ring, read_file(s.path("crlf.asc")), plain);
  bool sq_self = s.sq("verify --signer-cert " + s.q("sam.cert") + " " + s.q("crlf.asc")) == 0;
  // Observed with Debian's sq 0.27: sq does not verify its own signature here, and
  // mailseal says bad_signature. Recorded, and asserted only as "mailseal agrees with
  // the peer", so a fixed sq does not break the test.
  RecordProperty("sq_crlf_cleartext_self_verifies", sq_self ? "yes" : "no");
  RecordProperty("sq_crlf_cleartext_mailseal_verdict", std::string(verdict_status_name(q.status)));
  if (!sq_self)
    EXPECT_EQ(q.status, VerdictStatus::bad_signature) << q.reason;
  else
    EXPECT_EQ(q.status, VerdictStatus::valid) << q.reason;
}

}  // namespace
}  // namespace mailseal::openpgp
