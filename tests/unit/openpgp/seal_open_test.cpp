// mailseal -> mailseal: seal/open round trips (memory and spilled 8 MB bodies), detached
// signatures over exact bytes, and the verdicts for tampering, unknown/wrong signers,
// missing keys, unsigned and malformed input.
#include <chrono>

#include "openpgp/generate.h"
#include "openpgp/open.h"
#include "openpgp/seal.h"
#include "test_support.h"

namespace mailseal::openpgp {
namespace {

using namespace std::chrono_literals;
using testing::Scratch;

// Alice (sender) and Bob (recipient), each with a keyring as their gateway would have.
struct Parties {
  Keyring alice = std::move(Keyring::create().value());  // alice secret + bob public
  Keyring bob = std::move(Keyring::create().value());    // bob secret + alice public
  std::string alice_fpr, bob_fpr;

  explicit Parties(KeyAlgorithm alg = KeyAlgorithm::ed25519_cv25519) {
    auto a = generate_key(alice, "alice@example.org", {.algorithm = alg});
    auto b = generate_key(bob, "bob@example.com", {.algorithm = alg});
    EXPECT_TRUE(a.ok() && b.ok());
    alice_fpr = a->fingerprint();
    bob_fpr = b->fingerprint();
    EXPECT_TRUE(alice.import_keys(bob.export_public(bob_fpr, false).value()).ok());
    EXPECT_TRUE(bob.import_keys(alice.export_public(alice_fpr, false).value()).ok());
  }
};

TEST(Seal, RoundTripVerifiesAndNamesTheSigner) {
  Parties p;
  std::string message = testing::sample_mime(), sealed, plain;
  ASSERT_TRUE(seal(p.alice, message, sealed, {p.bob_fpr}, p.alice_fpr).ok());
  EXPECT_EQ(sealed.rfind("-----BEGIN PGP MESSAGE-----", 0), 0u);
  EXPECT_EQ(sealed.find("numbers"), std::string::npos);
  Verdict v = open(p.bob, sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(plain, message);
  EXPECT_EQ(v.signer_fingerprint, p.alice_fpr);
  EXPECT_EQ(v.signer_emails, std::vector<std::string>{"alice@example.org"});
  EXPECT_TRUE(v.signed_by("alice@EXAMPLE.org"));
  EXPECT_FALSE(v.signed_by("mallory@example.org"));
  EXPECT_EQ(v.cipher, "AES256");
  EXPECT_EQ(v.protection, "cfb-mdc");
  EXPECT_EQ(v.hash_algorithm, "SHA256");
  EXPECT_EQ(v.pubkey_algorithm, "EDDSA");
  EXPECT_EQ(v.signature_count, 1u);
}

TEST(Seal, RoundTripRsa) {
  Parties p(KeyAlgorithm::rsa3072);
  std::string sealed, plain;
  ASSERT_TRUE(seal(p.alice, testing::sample_mime(), sealed, {p.bob_fpr}, p.alice_fpr).ok());
  Verdict v = open(p.bob, sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_EQ(v.pubkey_algorithm, "RSA");
}

TEST(Seal, StreamsLargeSpilledBodies) {
  Scratch s;
  Parties p;
  auto in = s.body(64 * 1024);
  std::string line(76, 'x');
  line += "\r\n";
  for (int i = 0; i < 8 * 1024 * 1024 / 78; ++i) in.append(line);
  ASSERT_TRUE(in.spilled());
  auto sealed = s.body(64 * 1024);
  ASSERT_TRUE(seal(p.alice, in, sealed, {p.bob_fpr}, p.alice_fpr, {.armor = false}).ok());
  EXPECT_TRUE(sealed.spilled());
  EXPECT_GT(sealed.size(), in.size());
  auto plain = s.body(64 * 1024);
  Verdict v = open(p.bob, sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  ASSERT_EQ(plain.size(), in.size());
  EXPECT_TRUE(plain.to_string() == in.to_string());
}

TEST(Seal, RefusesUnusableKeys) {
  Parties p;
  std::string out;
  // Bob's keyring has no secret key of Alice: it cannot sign as Alice.
  EXPECT_EQ(seal(p.bob, "x", out, {p.alice_fpr}, p.alice_fpr).error().kind,
            ErrorKind::unusable_key);
  EXPECT_EQ(seal(p.alice, "x", out, {}, p.alice_fpr).error().kind, ErrorKind::bad_input);
  EXPECT_EQ(seal(p.alice, "x", out, {"0123456789ABCDEF0123456789ABCDEF01234567"}, p.alice_fpr)
                .error()
                .kind,
            ErrorKind::not_found);
}

TEST(Seal, ExpiredRecipientIsNotEncryptedTo) {
  Parties p;
  auto old = Keyring::create();
  ASSERT_TRUE(old.ok());
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  old->set_time(now - 24h * 30);
  auto k = generate_key(old.value(), "carol@example.net", {.lifetime = 24h});
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(p.alice.import_keys(old->export_public(k->fingerprint(), false).value()).ok());
  std::string out;
  auto st = seal(p.alice, "x", out, {p.bob_fpr, k->fingerprint()}, p.alice_fpr);
  EXPECT_EQ(st.error().kind, ErrorKind::unusable_key) << st.error().reason;
  EXPECT_TRUE(out.empty());
}

TEST(Open, MultipleRecipientsEachDecrypt) {
  Parties p;
  auto carol = std::move(Keyring::create().value());
  auto c = generate_key(carol, "carol@example.net");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(p.alice.import_keys(carol.export_public(c->fingerprint(), true).value()).ok());
  ASSERT_TRUE(carol.import_keys(p.alice.export_public(p.alice_fpr, true).value()).ok());
  std::string sealed;
  ASSERT_TRUE(seal(p.alice, "hi", sealed, {p.bob_fpr, c->fingerprint()}, p.alice_fpr).ok());
  std::string a, b;
  EXPECT_TRUE(open(p.bob, sealed, a).ok());
  EXPECT_TRUE(open(carol, sealed, b).ok());
  EXPECT_EQ(a, "hi");
  EXPECT_EQ(b, "hi");
}

TEST(Open, NotARecipientIsDecryptFailed) {
  Parties p;
  std::string sealed, plain;
  ASSERT_TRUE(seal(p.alice, "secret", sealed, {p.bob_fpr}, p.alice_fpr).ok());
  Verdict v = open(p.alice, sealed, plain);  // Alice has no secret key of Bob
  EXPECT_EQ(v.status, VerdictStatus::decrypt_failed) << v.reason;
  EXPECT_FALSE(v.ok());
}

TEST(Open, UnknownSignerIsReportedWithKeyId) {
  Parties p;
  auto stranger = std::move(Keyring::create().value());
  ASSERT_TRUE(stranger.import_keys(p.bob.export_public(p.bob_fpr, false).value()).ok());
  auto m = generate_key(stranger, "mallory@example.org");
  ASSERT_TRUE(m.ok());
  std::string sealed, plain;
  ASSERT_TRUE(seal(stranger, "hi", sealed, {p.bob_fpr}, m->fingerprint()).ok());
  Verdict v = open(p.bob, sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::unknown_signer) << v.reason;
  EXPECT_EQ(v.signer_key_id, m->fingerprint().substr(24));

  // The gateway may look the certificate up by key ID (store, WKD ...).
  OpenOptions options;
  std::string cert = stranger.export_public(m->fingerprint(), false).value();
  options.find_certificate = [&](std::string_view type, std::string_view id) {
    EXPECT_TRUE(type == "keyid" || type == "fingerprint") << type;
    EXPECT_NE(m->fingerprint().find(id), std::string::npos);
    return std::vector<std::string>{cert};
  };
  plain.clear();
  Verdict v2 = open(p.bob, sealed, plain, options);
  EXPECT_EQ(v2.status, VerdictStatus::valid) << v2.reason;
  // Valid signature, but by mallory: the caller compares with From and refuses.
  EXPECT_FALSE(v2.signed_by("alice@example.org"));
  EXPECT_EQ(v2.signer_emails, std::vector<std::string>{"mallory@example.org"});
}

TEST(Open, UnsignedEncryptedIsNoSignature) {
  Parties p;
  std::string sealed, plain;
  ASSERT_TRUE(encrypt_only(p.alice, "hi", sealed, {p.bob_fpr}).ok());
  Verdict v = open(p.bob, sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::no_signature) << v.reason;
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(plain, "hi");
}

// Flips one byte at many positions of a binary message: never valid.
TEST(Open, TamperedCiphertextIsNeverValid) {
  Parties p;
  std::string sealed;
  std::string text(3000, 'a');
  ASSERT_TRUE(seal(p.alice, text, sealed, {p.bob_fpr}, p.alice_fpr, {.armor = false}).ok());
  int integrity = 0;
  for (std::size_t pos = 0; pos < sealed.size(); pos += 37) {
    std::string bad = sealed;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x01);
    std::string plain;
    Verdict v = open(p.bob, bad, plain);
    EXPECT_FALSE(v.ok()) << "flip at " << pos << ": " << v.reason;
    EXPECT_NE(v.status, VerdictStatus::no_signature) << "flip at " << pos;
    if (v.status == VerdictStatus::integrity_failure) ++integrity;
  }
  EXPECT_GT(integrity, 0);
  // The last byte sits in the MDC packet / encrypted tail.
  std::string bad = sealed;
  bad.back() = static_cast<char>(bad.back() ^ 0x80);
  std::string plain;
  Verdict v = open(p.bob, bad, plain);
  EXPECT_EQ(v.status, VerdictStatus::integrity_failure) << v.reason;
}

TEST(Open, MalformedInput) {
  Parties p;
  std::string plain;
  for (std::string_view junk : {std::string_view("hello world"), std::string_view(""),
                                std::string_view("-----BEGIN PGP MESSAGE-----\n\n!!!!\n"
                                                 "-----END PGP MESSAGE-----\n")}) {
    Verdict v = open(p.bob, junk, plain);
    EXPECT_FALSE(v.ok());
    EXPECT_TRUE(v.falsified()) << verdict_status_name(v.status) << ": " << v.reason;
  }
}

TEST(Detached, VerifiesExactBytesOnly) {
  Parties p;
  std::string entity = testing::sample_mime(), sig;
  ASSERT_TRUE(sign_detached(p.alice, entity, sig, p.alice_fpr).ok());
  EXPECT_EQ(sig.rfind("-----BEGIN PGP SIGNATURE-----", 0), 0u);
  Verdict v = verify_detached(p.bob, entity, sig);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_TRUE(v.signed_by("alice@example.org"));
  EXPECT_FALSE(v.encrypted);

  std::string changed = entity;
  changed[changed.size() - 3] = '6';
  EXPECT_EQ(verify_detached(p.bob, changed, sig).status, VerdictStatus::bad_signature);
  // A trailing space or LF-for-CRLF is a different text: the signature is over bytes.
  std::string lf = entity;
  lf.erase(lf.size() - 2, 1);
  EXPECT_EQ(verify_detached(p.bob, lf, sig).status, VerdictStatus::bad_signature);
  EXPECT_EQ(verify_detached(p.bob, entity, std::string_view("garbage")).status,
            VerdictStatus::malformed);
}

// A sender whose clock is ahead: tolerated up to OpenOptions::clock_skew (60 s by
// default), beyond that RNP's "created in the future" becomes expired_key (policy).
TEST(Detached, ClockSkewTolerance) {
  Parties p;
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  for (auto [ahead, skew, want] :
       {std::tuple{30s, 60s, VerdictStatus::valid}, std::tuple{30s, 0s, VerdictStatus::expired_key},
        std::tuple{600s, 60s, VerdictStatus::expired_key}}) {
    p.alice.set_time(now + ahead);
    std::string sig;
    ASSERT_TRUE(sign_detached(p.alice, "data", sig, p.alice_fpr).ok());
    Verdict v = verify_detached(p.bob, "data", sig, {.clock_skew = skew});
    EXPECT_EQ(v.status, want) << ahead.count() << "s ahead, skew " << skew.count() << ": "
                              << v.reason;
  }
  EXPECT_FALSE(p.bob.time().has_value()) << "the skew is undone after the check";
}

TEST(Detached, SpilledBody) {
  Scratch s;
  Parties p;
  auto body = s.body(4096);
  for (int i = 0; i < 2000; ++i) body.append("line of a long attachment\r\n");
  ASSERT_TRUE(body.spilled());
  std::string sig;
  ASSERT_TRUE(sign_detached(p.alice, body, sig, p.alice_fpr).ok());
  EXPECT_TRUE(verify_detached(p.bob, body, sig).ok());
}

}  // namespace
}  // namespace mailseal::openpgp
