// OpenPGP in the gateway, in memory: PGP/MIME structure of sealed copies (RFC 3156
// multipart/encrypted and multipart/signed), seal -> open round trips through the
// inbound dispatcher, tampering, From binding, Bcc copies, and the format router's choice
// per recipient (preference order, fallback, RCPT-time refusal).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>

#include "../crypto/test_pki.h"
#include "gateway/body_io.h"
#include "gateway/format_router.h"
#include "gateway/openpgp_open_filter.h"
#include "gateway/openpgp_seal_filter.h"
#include "gateway/pgp_mime.h"
#include "gateway/smime_open_filter.h"
#include "gateway/smime_seal_filter.h"
#include "keys/key_admin.h"
#include "mime/entity.h"
#include "openpgp/generate.h"

namespace mailseal::gateway {
namespace {

// OpenPGP keys per address (public, secret) and S/MIME certificates per address.
class PgpKeys : public keys::KeySource {
 public:
  std::map<std::string, std::string> pub, sec;
  std::map<std::string, const testpki::Identity*> certs;
  std::string name() const override { return "memory"; }
  std::vector<keys::PublicKeyRecord> find_public(std::string_view a, keys::KeyKind kind,
                                                 std::optional<keys::SourceError>&) override {
    std::vector<keys::PublicKeyRecord> out;
    keys::PublicKeyRecord r;
    r.address = a;
    r.kind = kind;
    if (kind == keys::KeyKind::openpgp && pub.count(std::string(a))) {
      r.openpgp = pub.at(std::string(a));
      out.push_back(std::move(r));
    } else if (kind == keys::KeyKind::smime && certs.count(std::string(a))) {
      r.cert = crypto::share(certs.at(std::string(a))->cert.get());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<keys::SecretKeyRecord> find_secret(std::string_view a, keys::KeyKind kind,
                                                 std::optional<keys::SourceError>&) override {
    std::vector<keys::SecretKeyRecord> out;
    if (kind == keys::KeyKind::openpgp && sec.count(std::string(a))) {
      keys::SecretKeyRecord r;
      r.address = a;
      r.kind = kind;
      r.openpgp = sec.at(std::string(a));
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<keys::PublicKeyRecord> find_openpgp_by_id(
      std::string_view, std::optional<keys::SourceError>&) override {
    std::vector<keys::PublicKeyRecord> out;  // every certificate: RNP picks the right one
    for (auto& [a, data] : pub) {
      keys::PublicKeyRecord r;
      r.address = a;
      r.kind = keys::KeyKind::openpgp;
      r.openpgp = data;
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<keys::SourceError>&) override {
    return {};
  }
  std::vector<crypto::X509CrlPtr> crls(std::optional<keys::SourceError>&) override { return {}; }

  void add(openpgp::Keyring& ring, const std::string& address, bool with_secret) {
    auto k = openpgp::generate_key(ring, address);
    ASSERT_TRUE(k.ok());
    pub[address] = ring.export_public(k->fingerprint(), false).value();
    if (with_secret)
      sec[address] = std::string(ring.export_secret(k->fingerprint(), false)->view());
  }
};

core::MessageBody body_of(const std::string& s) {
  core::MessageBody b(std::filesystem::temp_directory_path());
  b.append(s);
  return b;
}

std::string text_of(const core::MessageBody& b) {
  std::string s(b.size(), '\0');
  b.read_at(0, s.data(), s.size());
  return s;
}

const std::string kMessage =
    "From: Alice <alice@a.example>\r\nTo: bob@b.example\r\nSubject: plan\r\n"
    "Bcc: eve@b.example\r\nX-Mailseal-Verification: verdict=valid; forged\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nThe secret plan.\r\n";

struct Fixture : ::testing::Test {
  openpgp::Keyring ring = std::move(openpgp::Keyring::create().value());
  PgpKeys outside, inside;  // sender organisation, receiving organisation
  void SetUp() override {
    outside.add(ring, "alice@a.example", true);
    inside.add(ring, "bob@b.example", true);
    inside.add(ring, "eve@b.example", true);
    outside.pub["bob@b.example"] = inside.pub["bob@b.example"];
    outside.pub["eve@b.example"] = inside.pub["eve@b.example"];
    inside.pub["alice@a.example"] = outside.pub["alice@a.example"];
  }
  core::FilterResult seal(const std::string& msg, std::vector<std::string> rcpts,
                          SealOptions o = {}) {
    OpenpgpSealFilter f({&outside}, o);
    return f.process(core::Envelope{"alice@a.example", rcpts}, {}, body_of(msg), nullptr);
  }
  // Sealed for a recipient without a key under no_certificate = sign_only.
  core::FilterResult seal_sign_only(const std::string& msg) {
    SealOptions so;
    so.no_certificate = RecipientFallback::sign_only;
    return seal(msg, {"nokey@c.example"}, so);
  }
  core::FilterResult open(const std::string& msg, std::vector<std::string> rcpts,
                          OpenOptions o = {}) {
    OpenDispatcher d(
        std::make_unique<SmimeOpenFilter>(std::vector<keys::KeySource*>{&inside}, o),
        std::make_unique<OpenpgpOpenFilter>(std::vector<keys::KeySource*>{&inside}, o));
    return d.process(core::Envelope{"alice@a.example", rcpts}, {}, body_of(msg), nullptr);
  }
};

TEST_F(Fixture, SealedCopyIsRfc3156MultipartEncrypted) {
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_FALSE(r.refusal) << r.refusal->text;
  ASSERT_EQ(r.copies.size(), 1u);
  std::string out = text_of(r.copies[0].body);
  EXPECT_EQ(out.find("The secret plan"), std::string::npos);
  EXPECT_EQ(out.find("Bcc:"), std::string::npos);
  EXPECT_EQ(out.find("X-Mailseal"), std::string::npos);
  EXPECT_NE(out.find("Subject: plan\r\n"), std::string::npos);
  mime::Entity e = mime::parse_entity(source_of(r.copies[0].body));
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.mime_type, "multipart/encrypted");
  EXPECT_EQ(e.signature_protocol, "application/pgp-encrypted");
  EXPECT_EQ(classify_pgp(source_of(r.copies[0].body), e), PgpKind::encrypted);
  EXPECT_NE(out.find("Content-Type: application/pgp-encrypted\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nVersion: 1\r\n"), std::string::npos);
  EXPECT_NE(out.find("Content-Type: application/octet-stream"), std::string::npos);
  EXPECT_NE(out.find("-----BEGIN PGP MESSAGE-----\r\n"), std::string::npos);
  // Every line ends in CRLF (SMTP), armor included.
  for (std::size_t i = out.find('\n'); i != std::string::npos; i = out.find('\n', i + 1))
    ASSERT_EQ(out[i - 1], '\r') << "bare LF at " << i;
}

TEST_F(Fixture, SealThenOpenIsValidAndStripsForgedTrace) {
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_EQ(r.copies.size(), 1u);
  auto o = open(text_of(r.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(o.refusal) << o.refusal->text;
  std::string out = text_of(o.copies[0].body);
  EXPECT_NE(out.find("The secret plan."), std::string::npos);
  EXPECT_NE(out.find("verdict=valid; format=openpgp; encryption=cfb-mdc"), std::string::npos)
      << out;
  EXPECT_NE(out.find("signer=alice@a.example"), std::string::npos);
  EXPECT_EQ(out.find("forged"), std::string::npos);
  EXPECT_EQ(out.find("multipart/encrypted"), std::string::npos);
}

// A message that already is a canonical entity (a base64 attachment) is sealed from its
// own bytes (mime::canonical_entity_in_place) for both encrypted and sign-only copies.
TEST_F(Fixture, CanonicalMessageIsSealedInPlace) {
  const std::string attachment =
      "From: Alice <alice@a.example>\r\nTo: bob@b.example\r\nSubject: data\r\n"
      "MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=\"d.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nVGhlIHNlY3JldCBwbGFuLg==\r\n";
  std::string head;
  ASSERT_TRUE(mime::canonical_entity_in_place(mime::source_from_string(attachment), head));
  auto r = seal(attachment, {"bob@b.example"});
  ASSERT_FALSE(r.refusal) << r.refusal->text;
  auto o = open(text_of(r.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(o.refusal) << o.refusal->text;
  std::string out = text_of(o.copies[0].body);
  EXPECT_NE(out.find("verdict=valid; format=openpgp"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Type: application/octet-stream; name=\"d.bin\"\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\nVGhlIHNlY3JldCBwbGFuLg==\r\n"),
            std::string::npos)
      << out;

  auto s = seal_sign_only(attachment);
  ASSERT_FALSE(s.refusal) << s.refusal->text;
  std::string signed_copy = text_of(s.copies[0].body);
  EXPECT_NE(signed_copy.find("\r\n\r\nVGhlIHNlY3JldCBwbGFuLg==\r\n"), std::string::npos);
  auto v = open(signed_copy, {"bob@b.example"});
  ASSERT_FALSE(v.refusal) << v.refusal->text;
  EXPECT_NE(text_of(v.copies[0].body).find("verdict=valid; format=openpgp; encryption=none"),
            std::string::npos);
}

TEST_F(Fixture, BccRecipientGetsOwnCopy) {
  auto r = seal(kMessage, {"bob@b.example", "eve@b.example"});
  ASSERT_EQ(r.copies.size(), 2u);
  for (auto& c : r.copies) {
    ASSERT_EQ(c.recipients.size(), 1u);
    auto o = open(text_of(c.body), c.recipients);
    ASSERT_FALSE(o.refusal) << o.refusal->text;
    // Each copy opens only for its own recipient.
    std::string other = c.recipients[0] == "bob@b.example" ? "eve@b.example" : "bob@b.example";
    auto wrong = open(text_of(c.body), {other});
    ASSERT_FALSE(wrong.refusal);
    EXPECT_NE(text_of(wrong.copies[0].body).find("verdict=undecryptable"), std::string::npos);
  }
}

TEST_F(Fixture, SignOnlyIsMultipartSignedAndTamperingIsRefused) {
  auto r = seal_sign_only(kMessage);
  ASSERT_FALSE(r.refusal) << r.refusal->text;
  std::string out = text_of(r.copies[0].body);
  EXPECT_NE(out.find("multipart/signed; micalg=pgp-sha256;"), std::string::npos);
  EXPECT_NE(out.find("protocol=\"application/pgp-signature\""), std::string::npos);
  EXPECT_NE(out.find("-----BEGIN PGP SIGNATURE-----\r\n"), std::string::npos);
  auto o = open(out, {"bob@b.example"});
  ASSERT_FALSE(o.refusal) << o.refusal->text;
  EXPECT_NE(text_of(o.copies[0].body).find("verdict=valid; format=openpgp; encryption=none"),
            std::string::npos);
  std::string bad = out;
  bad.replace(bad.find("secret plan"), 6, "public");
  auto t = open(bad, {"bob@b.example"});
  ASSERT_TRUE(t.refusal);
  EXPECT_EQ(t.refusal->code, 554);
  EXPECT_EQ(t.refusal->enhanced, "5.7.7") << t.refusal->text;
}

TEST_F(Fixture, TamperedCiphertextAndSignerNotFrom) {
  auto r = seal(kMessage, {"bob@b.example"});
  std::string out = text_of(r.copies[0].body);
  // A character near the end of the armored data (the encrypted content, not the session
  // key packet at the start, whose damage only reads as "not for us").
  std::size_t at = out.find("-----END PGP MESSAGE-----") - 40;
  std::string bad = out;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  auto t = open(bad, {"bob@b.example"});
  ASSERT_TRUE(t.refusal);
  EXPECT_EQ(t.refusal->code, 554) << t.refusal->text;
  EXPECT_EQ(t.refusal->enhanced.substr(0, 4), "5.7.") << t.refusal->text;
  // The same message with another From: the signer is not the From address.
  std::string forged = out;
  forged.replace(forged.find("alice@a.example"), 15, "carol@a.example");
  auto f = open(forged, {"bob@b.example"});
  ASSERT_TRUE(f.refusal);
  EXPECT_EQ(f.refusal->code, 550);
  EXPECT_EQ(f.refusal->enhanced, "5.7.1");
}

TEST_F(Fixture, NoKeyIsRefusedAndSenderWithoutKeyToo) {
  OpenpgpSealFilter f({&outside}, {});
  EXPECT_TRUE(f.check_recipient({}, "nokey@c.example"));
  EXPECT_FALSE(f.check_recipient({}, "bob@b.example"));
  outside.sec.clear();
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->code, 550);
  SealOptions eo;
  eo.no_secret_key = SenderFallback::encrypt_only;
  auto e = seal(kMessage, {"bob@b.example"}, eo);
  ASSERT_FALSE(e.refusal);
  auto o = open(text_of(e.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(o.refusal);
  EXPECT_NE(text_of(o.copies[0].body).find("verdict=unsigned; format=openpgp"), std::string::npos);
}

// The filters keep a keyring per thread across messages (openpgp_keys.h): every change
// of the key sources must be seen by the very next message, on the same thread.
TEST_F(Fixture, KeptKeyringSeesRemovedAndAddedRecipientKeys) {
  OpenpgpSealFilter f({&outside}, {});
  ASSERT_FALSE(f.check_recipient({}, "bob@b.example"));
  ASSERT_FALSE(seal(kMessage, {"bob@b.example"}).refusal);
  std::string bob = outside.pub["bob@b.example"];
  outside.pub.erase("bob@b.example");
  EXPECT_TRUE(f.check_recipient({}, "bob@b.example"));
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->code, 550);
  outside.pub["bob@b.example"] = bob;
  EXPECT_FALSE(f.check_recipient({}, "bob@b.example"));
  EXPECT_FALSE(seal(kMessage, {"bob@b.example"}).refusal);
}

TEST_F(Fixture, KeptKeyringSeesARemovedSenderKey) {
  ASSERT_FALSE(seal(kMessage, {"bob@b.example"}).refusal);
  outside.sec.erase("alice@a.example");
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_TRUE(r.refusal);
  EXPECT_NE(r.refusal->text.find("no OpenPGP signing key"), std::string::npos);
}

TEST_F(Fixture, KeptKeyringSeesReplacedKeys) {
  auto first = seal(kMessage, {"bob@b.example"});
  ASSERT_FALSE(first.refusal);
  auto o = open(text_of(first.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(o.refusal) << o.refusal->text;
  // Bob gets a new key: the next seal uses it, and his old secret key is gone.
  inside.add(ring, "bob@b.example", true);
  outside.pub["bob@b.example"] = inside.pub["bob@b.example"];
  auto second = seal(kMessage, {"bob@b.example"});
  ASSERT_FALSE(second.refusal);
  auto o2 = open(text_of(second.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(o2.refusal) << o2.refusal->text;
  EXPECT_NE(text_of(o2.copies[0].body).find("verdict=valid"), std::string::npos);
  auto old = open(text_of(first.copies[0].body), {"bob@b.example"});
  ASSERT_FALSE(old.refusal) << old.refusal->text;
  EXPECT_NE(text_of(old.copies[0].body).find("verdict=undecryptable"), std::string::npos);
}

TEST_F(Fixture, KeptKeyringSeesRemovedSecretAndSignerKeys) {
  auto r = seal(kMessage, {"bob@b.example"});
  ASSERT_FALSE(r.refusal);
  std::string sealed = text_of(r.copies[0].body);
  auto o = open(sealed, {"bob@b.example"});
  ASSERT_FALSE(o.refusal) << o.refusal->text;
  EXPECT_NE(text_of(o.copies[0].body).find("verdict=valid"), std::string::npos);
  // The signer's certificate leaves the store: the next message's signer is unknown.
  std::string alice = inside.pub["alice@a.example"];
  inside.pub.erase("alice@a.example");
  auto u = open(sealed, {"bob@b.example"});
  ASSERT_FALSE(u.refusal) << u.refusal->text;
  EXPECT_NE(text_of(u.copies[0].body).find("verdict=unknown-signer"), std::string::npos)
      << text_of(u.copies[0].body);
  inside.pub["alice@a.example"] = alice;
  auto v = open(sealed, {"bob@b.example"});
  ASSERT_FALSE(v.refusal) << v.refusal->text;
  EXPECT_NE(text_of(v.copies[0].body).find("verdict=valid"), std::string::npos);
  // Bob's secret key leaves the store: the kept copy must not decrypt.
  inside.sec.erase("bob@b.example");
  auto n = open(sealed, {"bob@b.example"});
  ASSERT_FALSE(n.refusal) << n.refusal->text;
  EXPECT_NE(text_of(n.copies[0].body).find("verdict=undecryptable"), std::string::npos);
}

// The same with the SQLite store (its own cache, PRAGMA data_version) behind the filters:
// a key removed with KeyAdmin is not used by the next message, a new one is.
TEST(KeptKeyringWithStore, RemoveAndRegenerateAreSeenByTheNextMessage) {
  char tmpl[] = "/tmp/mailseal-gw-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  std::filesystem::path dir(tmpl);
  auto paths = keys::StatePaths::under(dir / "state");
  ASSERT_TRUE(keys::KeyAdmin::init(paths));
  auto admin = keys::KeyAdmin::open(paths);
  ASSERT_TRUE(admin) << admin.error();
  ASSERT_TRUE(admin->generate_openpgp("alice@a.example", {}));
  auto bob = admin->generate_openpgp("bob@b.example", {});
  ASSERT_TRUE(bob);
  OpenpgpSealFilter seal({&admin->store()}, {});
  OpenpgpOpenFilter open({&admin->store()}, {});
  auto round_trip = [&](const char* want) {
    auto r = seal.process(core::Envelope{"alice@a.example", {"bob@b.example"}}, {},
                          body_of(kMessage), nullptr);
    if (r.refusal) return "refused " + std::to_string(r.refusal->code);
    auto o = open.process(core::Envelope{"alice@a.example", {"bob@b.example"}}, {},
                          body_of(text_of(r.copies[0].body)), nullptr);
    if (o.refusal) return "open refused " + o.refusal->text;
    std::string out = text_of(o.copies[0].body);
    return out.find(want) != std::string::npos ? std::string("ok") : out;
  };
  EXPECT_EQ(round_trip("verdict=valid"), "ok");
  EXPECT_EQ(round_trip("verdict=valid"), "ok");  // from the kept keyring
  ASSERT_TRUE(admin->remove(bob->fingerprint));
  EXPECT_EQ(round_trip("verdict=valid"), "refused 550");
  ASSERT_TRUE(admin->generate_openpgp("bob@b.example", {}));
  EXPECT_EQ(round_trip("verdict=valid"), "ok");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_F(Fixture, InlinePgpMustBeTheWholeBody) {
  EXPECT_TRUE(
      is_whole_armored_message("\r\n-----BEGIN PGP MESSAGE-----\r\nx\r\n"
                               "-----END PGP MESSAGE-----\r\n"));
  EXPECT_FALSE(
      is_whole_armored_message("hi\r\n-----BEGIN PGP MESSAGE-----\r\nx\r\n"
                               "-----END PGP MESSAGE-----\r\n"));
  EXPECT_FALSE(
      is_whole_armored_message("-----BEGIN PGP MESSAGE-----\r\nx\r\n"
                               "-----END PGP MESSAGE-----\r\nappended text\r\n"));
  EXPECT_TRUE(
      is_whole_armored_message("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n"
                               "\r\nt\r\n-----BEGIN PGP SIGNATURE-----\r\nx\r\n"
                               "-----END PGP SIGNATURE-----"));
}

// The router: bob has OpenPGP only, carl S/MIME only, dora both, nobody nothing.
struct RouterFixture : Fixture {
  testpki::Identity ca = testpki::make_ca("CA");
  testpki::Identity carl = testpki::make_leaf(ca, {"carl@c.example"});
  testpki::Identity dora = testpki::make_leaf(ca, {"dora@c.example"});
  void SetUp() override {
    Fixture::SetUp();
    outside.certs = {{"carl@c.example", &carl}, {"dora@c.example", &dora}};
    outside.add(ring, "dora@c.example", false);
  }
  FormatRouter router(std::vector<SealFormat> formats, RecipientFallback fb) {
    std::vector<std::unique_ptr<core::MessageFilter>> filters;
    SealOptions o;
    o.no_certificate = fb;
    o.no_secret_key = SenderFallback::encrypt_only;  // alice has no S/MIME key here
    for (auto f : formats) {
      if (f == SealFormat::smime)
        filters.push_back(
            std::make_unique<SmimeSealFilter>(std::vector<keys::KeySource*>{&outside}, o));
      else
        filters.push_back(
            std::make_unique<OpenpgpSealFilter>(std::vector<keys::KeySource*>{&outside}, o));
    }
    return FormatRouter({&outside}, formats, std::move(filters), fb);
  }
};

TEST_F(RouterFixture, PreferenceOrderDecidesPerRecipient) {
  std::optional<keys::SourceError> err;
  auto sm_first = router({SealFormat::smime, SealFormat::openpgp}, RecipientFallback::refuse);
  EXPECT_EQ(sm_first.route("bob@b.example", err), 1);
  EXPECT_EQ(sm_first.route("carl@c.example", err), 0);
  EXPECT_EQ(sm_first.route("dora@c.example", err), 0);
  EXPECT_EQ(sm_first.route("nobody@c.example", err), -1);
  auto pgp_first = router({SealFormat::openpgp, SealFormat::smime}, RecipientFallback::refuse);
  EXPECT_EQ(pgp_first.route("dora@c.example", err), 0);
  EXPECT_EQ(pgp_first.route("carl@c.example", err), 1);
  auto rcpt = sm_first.check_recipient({}, "nobody@c.example");
  ASSERT_TRUE(rcpt);
  EXPECT_EQ(rcpt->code, 550);
  EXPECT_FALSE(sm_first.check_recipient({}, "bob@b.example"));
  EXPECT_FALSE(router({SealFormat::smime, SealFormat::openpgp}, RecipientFallback::sign_only)
                   .check_recipient({}, "nobody@c.example"));
}

TEST_F(RouterFixture, MixedRecipientsGetOneCopyPerFormat) {
  auto r = router({SealFormat::smime, SealFormat::openpgp}, RecipientFallback::refuse);
  std::string msg =
      "From: alice@a.example\r\nTo: bob@b.example, carl@c.example\r\nSubject: s\r\n"
      "Content-Type: text/plain\r\n\r\nmixed\r\n";
  auto res = r.process(core::Envelope{"alice@a.example", {"bob@b.example", "carl@c.example"}}, {},
                       body_of(msg), nullptr);
  ASSERT_FALSE(res.refusal) << res.refusal->text;
  ASSERT_EQ(res.copies.size(), 2u);
  std::map<std::string, std::string> type;
  for (auto& c : res.copies) {
    ASSERT_EQ(c.recipients.size(), 1u);
    type[c.recipients[0]] = mime::parse_entity(source_of(c.body)).mime_type;
  }
  EXPECT_EQ(type["bob@b.example"], "multipart/encrypted");
  EXPECT_EQ(type["carl@c.example"], "application/pkcs7-mime");
}

}  // namespace
}  // namespace mailseal::gateway
