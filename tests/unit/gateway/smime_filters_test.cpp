// Seal and open filters end to end in memory, with an in-memory KeySource: round trips,
// tampering, wrong From, Bcc copies, fallbacks, trace-header stripping, source failure,
// and interop of sealed output with `openssl cms`.
#include <gtest/gtest.h>

#include <map>

#include "../crypto/test_pki.h"
#include "crypto/smime/smime.h"
#include "gateway/smime_open_filter.h"
#include "gateway/smime_seal_filter.h"

namespace mailseal::gateway {
namespace {

using testpki::Alg;
using testpki::Identity;

class MemoryKeys : public keys::KeySource {
 public:
  std::map<std::string, const Identity*> certs, secrets;
  std::vector<const Identity*> anchors_;
  bool broken = false;
  std::string name() const override { return "memory"; }
  std::vector<keys::PublicKeyRecord> find_public(std::string_view a, keys::KeyKind,
                                                 std::optional<keys::SourceError>& e) override {
    if (broken) e = keys::SourceError{"memory", "down"};
    std::vector<keys::PublicKeyRecord> out;
    auto it = certs.find(std::string(a));
    if (!broken && it != certs.end()) {
      keys::PublicKeyRecord r;
      r.address = a;
      r.cert = crypto::share(it->second->cert.get());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<keys::SecretKeyRecord> find_secret(std::string_view a, keys::KeyKind,
                                                 std::optional<keys::SourceError>& e) override {
    if (broken) e = keys::SourceError{"memory", "down"};
    std::vector<keys::SecretKeyRecord> out;
    auto it = secrets.find(std::string(a));
    if (!broken && it != secrets.end()) {
      keys::SecretKeyRecord r;
      r.address = a;
      r.cert = crypto::share(it->second->cert.get());
      r.key = crypto::share(it->second->key.get());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<keys::SourceError>&) override {
    std::vector<crypto::X509Ptr> out;
    for (auto* id : anchors_) out.push_back(crypto::share(id->cert.get()));
    return out;
  }
  std::vector<crypto::X509CrlPtr> crls(std::optional<keys::SourceError>&) override { return {}; }
};

struct World {
  Identity ca = testpki::make_ca("Gateway CA");
  Identity alice = testpki::make_leaf(ca, {"alice@a.example"});
  Identity bob = testpki::make_leaf(ca, {"bob@b.example", Alg::ec, -1, 365, "emailProtection", 3});
  Identity carol =
      testpki::make_leaf(ca, {"carol@b.example", Alg::rsa, -1, 365, "emailProtection", 4});
  Identity mallory =
      testpki::make_leaf(ca, {"mallory@evil.example", Alg::rsa, -1, 365, "emailProtection", 5});
};
World& world() {
  static World w;
  return w;
}

const std::string kMessage =
    "From: Alice <alice@a.example>\r\nTo: bob@b.example\r\nSubject: plan\r\n"
    "Bcc: carol@b.example\r\nX-Mailseal-Verification: verdict=valid; forged\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nThe secret plan.\r\n";

core::MessageBody body_of(const std::string& s) {
  core::MessageBody b(std::filesystem::temp_directory_path());
  b.append(s);
  return b;
}

struct Fixture : ::testing::Test {
  MemoryKeys outside_keys, inside_keys;  // sender org, receiver org
  void SetUp() override {
    World& w = world();
    outside_keys.secrets = {{"alice@a.example", &w.alice}, {"mallory@evil.example", &w.mallory}};
    outside_keys.certs = {{"bob@b.example", &w.bob}, {"carol@b.example", &w.carol}};
    inside_keys.secrets = {{"bob@b.example", &w.bob}, {"carol@b.example", &w.carol}};
    inside_keys.anchors_ = {&w.ca};
  }
  core::FilterResult seal(const std::string& msg, const std::string& sender,
                          std::vector<std::string> rcpts, SealOptions o = {}) {
    SmimeSealFilter f({&outside_keys}, o);
    return f.process(core::Envelope{sender, rcpts}, {}, body_of(msg));
  }
  core::FilterResult open(const std::string& msg, std::vector<std::string> rcpts,
                          OpenOptions o = {}) {
    SmimeOpenFilter f({&inside_keys}, o);
    return f.process(core::Envelope{"alice@a.example", rcpts}, {}, body_of(msg));
  }
};

TEST_F(Fixture, SealThenOpenRoundTripsForEachOption) {
  for (SealOptions o :
       {SealOptions{}, SealOptions{crypto::smime::Cipher::aes256_gcm, true, true}}) {
    core::FilterResult sealed = seal(kMessage, "alice@a.example", {"bob@b.example"}, o);
    ASSERT_FALSE(sealed.refusal) << sealed.refusal->brief();
    ASSERT_EQ(sealed.copies.size(), 1u);
    std::string wire = sealed.copies[0].body.to_string();
    EXPECT_EQ(wire.find("secret plan"), std::string::npos);
    EXPECT_EQ(wire.find("Bcc"), std::string::npos);
    EXPECT_NE(wire.find("Subject: plan\r\n"), std::string::npos);
    EXPECT_NE(wire.find("application/pkcs7-mime"), std::string::npos);
    core::FilterResult opened = open(wire, {"bob@b.example"});
    ASSERT_FALSE(opened.refusal) << opened.refusal->brief();
    std::string plain = opened.copies[0].body.to_string();
    EXPECT_NE(plain.find("The secret plan.\r\n"), std::string::npos) << plain;
    EXPECT_NE(plain.find("X-Mailseal-Verification: verdict=valid"), std::string::npos) << plain;
    EXPECT_NE(plain.find("signer=alice@a.example"), std::string::npos);
    EXPECT_EQ(plain.find("pkcs7"), std::string::npos) << plain;
  }
}

TEST_F(Fixture, BccRecipientGetsOwnCopy) {
  core::FilterResult sealed =
      seal(kMessage, "alice@a.example", {"bob@b.example", "carol@b.example"});
  ASSERT_FALSE(sealed.refusal);
  ASSERT_EQ(sealed.copies.size(), 2u);
  for (auto& c : sealed.copies) {
    ASSERT_EQ(c.recipients.size(), 1u);
    std::string rcpt = c.recipients[0];
    std::string other = rcpt == "bob@b.example" ? "carol@b.example" : "bob@b.example";
    EXPECT_FALSE(open(c.body.to_string(), {rcpt}).refusal) << rcpt;
    // The other recipient's key cannot open this copy: delivered tagged, not decrypted.
    core::FilterResult r = open(c.body.to_string(), {other});
    ASSERT_FALSE(r.refusal);
    EXPECT_NE(r.copies[0].body.to_string().find("verdict=undecryptable"), std::string::npos);
  }
}

TEST_F(Fixture, SealRefusals) {
  EXPECT_EQ(seal(kMessage, "mallory@evil.example", {"bob@b.example"}).refusal->enhanced, "5.7.1");
  EXPECT_EQ(seal(kMessage, "alice@a.example", {"dave@b.example"}).refusal->code, 550);
  SealOptions plain;
  plain.no_certificate = RecipientFallback::plain;
  auto r = seal(kMessage, "alice@a.example", {"dave@b.example"}, plain);
  ASSERT_FALSE(r.refusal);
  EXPECT_NE(r.copies[0].body.to_string().find("secret plan"), std::string::npos);
  outside_keys.broken = true;
  auto t = seal(kMessage, "alice@a.example", {"bob@b.example"});
  ASSERT_TRUE(t.refusal);
  EXPECT_EQ(t.refusal->code, 451);
  EXPECT_NE(t.refusal->text.find("memory"), std::string::npos);
  SmimeSealFilter f({&outside_keys}, {});
  EXPECT_EQ(f.check_recipient({}, "bob@b.example")->code, 451);
  outside_keys.broken = false;
  EXPECT_FALSE(f.check_recipient({}, "bob@b.example"));
  EXPECT_EQ(f.check_recipient({}, "dave@b.example")->code, 550);
}

TEST_F(Fixture, SignOnlyTamperAndForgedSigner) {
  SealOptions sign_only;
  sign_only.no_certificate = RecipientFallback::sign_only;
  auto s = seal(kMessage, "alice@a.example", {"dave@b.example"}, sign_only);
  ASSERT_FALSE(s.refusal);
  std::string wire = s.copies[0].body.to_string();
  EXPECT_NE(wire.find("multipart/signed"), std::string::npos);
  EXPECT_FALSE(open(wire, {"dave@b.example"}).refusal);
  std::string tampered = wire;
  tampered.replace(tampered.find("secret plan"), 6, "public");
  auto r = open(tampered, {"dave@b.example"});
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->brief().substr(0, 9), "554 5.7.7");
  // Mallory signs a message whose From names Alice.
  SealOptions lax = sign_only;
  lax.allow_from_mismatch = true;
  outside_keys.secrets["alice@a.example"] = &world().mallory;  // mallory's key "as" alice
  auto forged = seal(kMessage, "alice@a.example", {"dave@b.example"}, lax);
  ASSERT_FALSE(forged.refusal);
  auto f = open(forged.copies[0].body.to_string(), {"dave@b.example"});
  ASSERT_TRUE(f.refusal);
  EXPECT_EQ(f.refusal->brief().substr(0, 9), "550 5.7.1");
}

TEST_F(Fixture, TamperedCiphertextExpiredAndPlainMail) {
  SealOptions gcm;
  gcm.cipher = crypto::smime::Cipher::aes256_gcm;
  auto s = seal(kMessage, "alice@a.example", {"bob@b.example"}, gcm);
  std::string wire = s.copies[0].body.to_string();
  std::size_t mid = wire.find("\r\n\r\n", wire.find("smime.p7m")) + 200;
  wire[mid] = wire[mid] == 'A' ? 'B' : 'A';
  auto r = open(wire, {"bob@b.example"});
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->code, 554);

  std::string good = s.copies[0].body.to_string();
  OpenOptions later;
  later.verify_time = std::time(nullptr) + 3 * 365 * 86400;
  auto tagged = open(good, {"bob@b.example"}, later);
  ASSERT_FALSE(tagged.refusal);
  EXPECT_NE(tagged.copies[0].body.to_string().find("verdict=expired"), std::string::npos);
  later.expired = VerdictAction::reject;
  EXPECT_EQ(open(good, {"bob@b.example"}, later).refusal->enhanced, "5.7.5");

  auto plain = open(kMessage, {"bob@b.example"});
  ASSERT_FALSE(plain.refusal);
  std::string out = plain.copies[0].body.to_string();
  EXPECT_EQ(out.find("forged"), std::string::npos) << out;
  EXPECT_NE(out.find("verdict=unsigned"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\nThe secret plan.\r\n"), std::string::npos) << out;
}

TEST_F(Fixture, SealedOutputOpensInOpensslCms) {
  if (!testpki::have_tool("openssl")) GTEST_SKIP();
  testpki::TempDir dir;
  auto s = seal(kMessage, "alice@a.example", {"bob@b.example"});
  testpki::write_file(dir / "m.eml", s.copies[0].body.to_string());
  testpki::write_file(dir / "bob.pem", testpki::cert_pem(world().bob.cert.get()));
  testpki::write_file(dir / "bob.key", testpki::key_pem(world().bob.key.get()));
  testpki::write_file(dir / "ca.pem", testpki::cert_pem(world().ca.cert.get()));
  std::string d = dir.path.string();
  ASSERT_EQ(testpki::run("openssl cms -decrypt -in " + d + "/m.eml -recip " + d +
                         "/bob.pem -inkey " + d + "/bob.key -out " + d + "/inner.eml"),
            0);
  ASSERT_EQ(testpki::run("openssl cms -verify -in " + d + "/inner.eml -CAfile " + d +
                         "/ca.pem -out " + d + "/plain.txt"),
            0);
  EXPECT_NE(testpki::read_file(dir / "plain.txt").find("The secret plan."), std::string::npos);
}

}  // namespace
}  // namespace mailseal::gateway
