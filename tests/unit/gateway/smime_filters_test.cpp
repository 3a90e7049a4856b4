// Seal and open filters end to end in memory, with an in-memory KeySource: round trips,
// tampering, wrong From, Bcc copies, fallbacks, trace-header stripping, source failure,
// and interop of sealed output with `openssl cms`.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "../crypto/test_pki.h"
#include "crypto/smime/smime.h"
#include "gateway/body_io.h"
#include "gateway/smime_open_filter.h"
#include "gateway/smime_seal_filter.h"
#include "mime/entity.h"

namespace mailseal::gateway {
namespace {

using testpki::Alg;
using testpki::Identity;

class MemoryKeys : public keys::KeySource {
 public:
  std::map<std::string, const Identity*> certs, secrets;
  std::vector<const Identity*> anchors_;
  bool broken = false;
  int opened = 0;  // secret keys handed out ("unsealed")
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
      ++opened;
    }
    return out;
  }
  // As a store does: the certificate is checked before the key is opened.
  std::vector<keys::SecretKeyRecord> find_secret_for(std::string_view a, keys::KeyKind k,
                                                     const std::function<bool(X509*)>& wanted,
                                                     std::optional<keys::SourceError>& e) override {
    auto it = secrets.find(std::string(a));
    if (!broken && it != secrets.end() && !wanted(it->second->cert.get())) return {};
    return find_secret(a, k, e);
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

struct SmimeFilters : ::testing::Test {
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
    return f.process(core::Envelope{sender, rcpts}, {}, body_of(msg), nullptr);
  }
  core::FilterResult open(const std::string& msg, std::vector<std::string> rcpts,
                          OpenOptions o = {}) {
    SmimeOpenFilter f({&inside_keys}, o);
    return f.process(core::Envelope{"alice@a.example", rcpts}, {}, body_of(msg), nullptr);
  }
};

TEST_F(SmimeFilters, SealThenOpenRoundTripsForEachOption) {
  for (SealOptions o :
       {SealOptions{}, SealOptions{crypto::smime::Cipher::aes256_gcm, true, true}}) {
    core::FilterResult sealed = seal(kMessage, "alice@a.example", {"bob@b.example"}, o);
    ASSERT_FALSE(sealed.refusal) << sealed.refusal->brief();
    ASSERT_EQ(sealed.copies.size(), 1u);
    std::string wire = sealed.copies[0].body.to_string();
    EXPECT_EQ(wire.find("secret plan"), std::string::npos);
    // Only the header: "Bcc" may well occur in a few KiB of base64.
    EXPECT_EQ(wire.substr(0, wire.find("\r\n\r\n")).find("Bcc"), std::string::npos);
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

TEST_F(SmimeFilters, OpenOpensOnlyTheKeyARecipientInfoNames) {
  // Sealed to carol only; the envelope names bob first. Bob's key is not opened.
  core::FilterResult sealed = seal(kMessage, "alice@a.example", {"carol@b.example"});
  ASSERT_FALSE(sealed.refusal);
  ASSERT_EQ(sealed.copies.size(), 1u);
  std::string wire = sealed.copies[0].body.to_string();
  inside_keys.opened = 0;
  core::FilterResult opened = open(wire, {"bob@b.example", "carol@b.example"});
  ASSERT_FALSE(opened.refusal) << opened.refusal->brief();
  EXPECT_NE(opened.copies[0].body.to_string().find("The secret plan."), std::string::npos);
  EXPECT_EQ(inside_keys.opened, 1);
  // Sealed to both: only the first matching internal recipient's key is opened.
  sealed = seal(kMessage, "alice@a.example", {"bob@b.example", "carol@b.example"});
  ASSERT_FALSE(sealed.refusal);
  for (auto& c : sealed.copies) {
    if (c.recipients.size() != 1 || c.recipients[0] != "bob@b.example") continue;
    inside_keys.opened = 0;
    opened = open(c.body.to_string(), {"carol@b.example", "bob@b.example"});
    ASSERT_FALSE(opened.refusal) << opened.refusal->brief();
    EXPECT_EQ(inside_keys.opened, 1);
  }
  // For nobody here: no key is opened at all.
  inside_keys.opened = 0;
  opened = open(wire, {"bob@b.example"});
  EXPECT_FALSE(opened.refusal);
  EXPECT_NE(opened.copies[0].body.to_string().find("verdict=undecryptable"), std::string::npos);
  EXPECT_EQ(inside_keys.opened, 0);
}

TEST_F(SmimeFilters, BccRecipientGetsOwnCopy) {
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

TEST_F(SmimeFilters, SealRefusals) {
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

TEST_F(SmimeFilters, PlainFallbackDropsBccAndGivesBccRecipientsOwnCopy) {
  const std::string msg =
      "From: Alice <alice@a.example>\r\nTo: dave@b.example\r\nBcc: erin@b.example,\r\n"
      " frank@b.example\r\nSubject: plan\r\nresent-bcc : x@b.example\r\n"
      "Content-Type: text/plain\r\n\r\nBcc: in the body stays.\r\n";
  SealOptions plain;
  plain.no_certificate = RecipientFallback::plain;
  auto r =
      seal(msg, "alice@a.example", {"dave@b.example", "erin@b.example", "frank@b.example"}, plain);
  ASSERT_FALSE(r.refusal) << r.refusal->brief();
  ASSERT_EQ(r.copies.size(), 3u);  // dave; erin and frank one each
  for (auto& c : r.copies) {
    ASSERT_EQ(c.recipients.size(), 1u);
    std::string out = c.body.to_string();
    EXPECT_EQ(out.find("erin"), std::string::npos) << out;
    EXPECT_EQ(out.find("frank"), std::string::npos) << out;
    EXPECT_EQ(out.find("x@b.example"), std::string::npos) << out;
    EXPECT_EQ(out,
              "From: Alice <alice@a.example>\r\nTo: dave@b.example\r\nSubject: plan\r\n"
              "Content-Type: text/plain\r\n\r\nBcc: in the body stays.\r\n");
  }
}

TEST_F(SmimeFilters, SignOnlyTamperAndForgedSigner) {
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

TEST_F(SmimeFilters, TamperedCiphertextExpiredAndPlainMail) {
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

TEST_F(SmimeFilters, RequireSignatureFromSenderDomain) {
  OpenOptions o;
  o.require_signature_from = {"bank.example", "a.example"};
  std::string from_upper = kMessage;
  from_upper.replace(from_upper.find("alice@a.example"), 15, "alice@A.Example");
  // Unsigned plain mail from a listed domain (domain compared case-insensitively).
  for (const std::string& m : {kMessage, from_upper}) {
    auto r = open(m, {"bob@b.example"}, o);
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->brief().substr(0, 9), "550 5.7.1");
  }
  // Encrypted only, unsigned.
  SealOptions encrypt_only;
  encrypt_only.no_secret_key = SenderFallback::encrypt_only;
  outside_keys.secrets.erase("alice@a.example");
  auto e = seal(kMessage, "alice@a.example", {"bob@b.example"}, encrypt_only);
  ASSERT_FALSE(e.refusal);
  std::string enc = e.copies[0].body.to_string();
  auto r = open(enc, {"bob@b.example"}, o);
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->brief().substr(0, 9), "550 5.7.1");
  EXPECT_FALSE(open(enc, {"bob@b.example"}).refusal);  // without the rule: tagged
  // Encrypted to nobody inside: left to the `undecryptable` rule (tagged).
  auto u = open(enc, {"carol@b.example"}, o);
  ASSERT_FALSE(u.refusal);
  EXPECT_NE(u.copies[0].body.to_string().find("verdict=undecryptable"), std::string::npos);
  // Signed and encrypted by the From address: passes.
  outside_keys.secrets["alice@a.example"] = &world().alice;
  auto s = seal(kMessage, "alice@a.example", {"bob@b.example"});
  std::string wire = s.copies[0].body.to_string();
  auto ok = open(wire, {"bob@b.example"}, o);
  ASSERT_FALSE(ok.refusal) << ok.refusal->brief();
  EXPECT_NE(ok.copies[0].body.to_string().find("verdict=valid"), std::string::npos);
  // A signature that does not chain to a trust anchor does not satisfy the rule (a
  // self-made certificate for the bank's address must not), though it is tagged otherwise.
  inside_keys.anchors_.clear();
  EXPECT_FALSE(open(wire, {"bob@b.example"}).refusal);
  auto untrusted = open(wire, {"bob@b.example"}, o);
  ASSERT_TRUE(untrusted.refusal);
  EXPECT_EQ(untrusted.refusal->brief().substr(0, 9), "550 5.7.1");
  // Other domains pass unsigned, tagged as before.
  std::string other = kMessage;
  other.replace(other.find("alice@a.example"), 15, "alice@bank.example.org");
  auto p = open(other, {"bob@b.example"}, o);
  ASSERT_FALSE(p.refusal);
  EXPECT_NE(p.copies[0].body.to_string().find("verdict=unsigned"), std::string::npos);
}

std::string lf_only(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '\r') out.push_back(c);
  return out;
}

bool all_crlf(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
  }
  return true;
}

// An enveloped-data message (CRLF outside) whose encrypted inner entity is `inner`.
std::string enveloped_message(const std::string& inner, X509* to) {
  core::MessageBody wire(std::filesystem::temp_directory_path());
  wire.append("From: alice@a.example\r\nTo: bob@b.example\r\nSubject: lf\r\n");
  wire.append(mime::pkcs7_mime_headers(mime::SmimeKind::enveloped));
  crypto::BioPtr in(BIO_new_mem_buf(inner.data(), static_cast<int>(inner.size())));
  crypto::BioPtr b64 = base64_into(wire);
  EXPECT_TRUE(crypto::smime::encrypt(in.get(), b64.get(), {to}).ok());
  return wire.to_string();
}

TEST_F(SmimeFilters, OpenDeliversCrlfWhenTheCmsContentHasBareLf) {
  auto r = open(
      enveloped_message("Content-Type: text/plain\n\nline one\nline two\n", world().bob.cert.get()),
      {"bob@b.example"});
  ASSERT_FALSE(r.refusal) << r.refusal->brief();
  std::string out = r.copies[0].body.to_string();
  EXPECT_TRUE(all_crlf(out)) << out;
  EXPECT_NE(out.find("\r\n\r\nline one\r\nline two\r\n"), std::string::npos) << out;

  // multipart/signed with LF line ends inside the encryption, signed (as RFC 8551 3.1.1
  // wants) over the CRLF form of its first part: verifies, and is delivered as CRLF.
  std::string content = "Content-Type: text/plain\r\n\r\nsigned text\r\n";
  core::MessageBody sig(std::filesystem::temp_directory_path());
  {
    crypto::BioPtr in(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    crypto::BioPtr b64 = base64_into(sig);
    crypto::smime::SignerKey signer{world().alice.cert.get(), world().alice.key.get(), {}};
    ASSERT_TRUE(crypto::smime::sign(in.get(), b64.get(), signer).ok());
  }
  std::string b = "=_b";
  std::string signed_entity = mime::signed_multipart_head(b) + content +
                              mime::signed_multipart_middle(b) + sig.to_string() +
                              mime::signed_multipart_tail(b);
  auto s =
      open(enveloped_message(lf_only(signed_entity), world().bob.cert.get()), {"bob@b.example"});
  ASSERT_FALSE(s.refusal) << s.refusal->brief();
  out = s.copies[0].body.to_string();
  EXPECT_TRUE(all_crlf(out)) << out;
  EXPECT_NE(out.find("verdict=valid"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\nsigned text\r\n"), std::string::npos) << out;
  // Different text under the same signature is still refused.
  std::string forged = lf_only(signed_entity);
  forged.replace(forged.find("signed text"), 6, "forged");
  auto f = open(enveloped_message(forged, world().bob.cert.get()), {"bob@b.example"});
  ASSERT_TRUE(f.refusal);
  EXPECT_EQ(f.refusal->brief().substr(0, 9), "554 5.7.7");
}

TEST_F(SmimeFilters, SealedOutputOpensInOpensslCms) {
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
