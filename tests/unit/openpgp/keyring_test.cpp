// Keys: generation, export/import round trips, key info, and the key_for_address rule
// (valid user ID carries the address; expired or revoked keys are not used).
#include <chrono>

#include "openpgp/generate.h"
#include "openpgp/keyring.h"
#include "openpgp/user_id.h"
#include "test_support.h"

namespace mailseal::openpgp {
namespace {

using namespace std::chrono_literals;
using testing::Scratch;

Keyring make_keyring() {
  auto k = Keyring::create();
  EXPECT_TRUE(k.ok()) << k.error().reason;
  return std::move(k.value());
}

TEST(UserId, ParsesAddresses) {
  struct Case {
    std::string_view uid, want;
  } cases[] = {
      {"Alice <alice@example.org>", "alice@example.org"},
      {"<bob@example.com>", "bob@example.com"},
      {"carol@example.net", "carol@example.net"},
      {"Dave (work) <dave@Example.COM>", "dave@Example.COM"},
      {"Just a name", ""},
      {"Eve <not an address>", ""},
      {"<a@b@c>", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(email_from_user_id(c.uid), c.want) << c.uid;
}

TEST(UserId, DomainCaseInsensitiveLocalPartExact) {
  EXPECT_TRUE(same_address("Alice@Example.ORG", "Alice@example.org"));
  EXPECT_FALSE(same_address("alice@example.org", "Alice@example.org"));
  EXPECT_FALSE(same_address("", ""));
}

TEST(Keyring, GeneratesEd25519WithCv25519Subkey) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "alice@example.org", {.name = "Alice"});
  ASSERT_TRUE(key.ok()) << key.error().reason;
  EXPECT_EQ(key->primary.algorithm, "EDDSA");
  EXPECT_TRUE(key->primary.can_sign);
  EXPECT_TRUE(key->has_secret());
  EXPECT_FALSE(key->primary.expires.has_value());
  ASSERT_EQ(key->subkeys.size(), 1u);
  EXPECT_EQ(key->subkeys[0].algorithm, "ECDH");
  EXPECT_EQ(key->subkeys[0].curve, "Curve25519");
  EXPECT_TRUE(key->subkeys[0].can_encrypt);
  ASSERT_EQ(key->user_ids.size(), 1u);
  EXPECT_EQ(key->user_ids[0].text, "Alice <alice@example.org>");
  EXPECT_EQ(key->emails(), std::vector<std::string>{"alice@example.org"});
  EXPECT_EQ(key->fingerprint().size(), 40u);
}

TEST(Keyring, GeneratesRsa3072ByOption) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "rsa@example.org", {.algorithm = KeyAlgorithm::rsa3072});
  ASSERT_TRUE(key.ok()) << key.error().reason;
  EXPECT_EQ(key->primary.algorithm, "RSA");
  EXPECT_EQ(key->primary.bits, 3072u);
  ASSERT_EQ(key->subkeys.size(), 1u);
  EXPECT_EQ(key->subkeys[0].bits, 3072u);
  EXPECT_EQ(key->user_ids[0].text, "<rsa@example.org>");
}

TEST(Keyring, RejectsNonAddress) {
  auto ring = make_keyring();
  EXPECT_EQ(generate_key(ring, "not an address").error().kind, ErrorKind::bad_input);
}

TEST(Keyring, ExportImportPublicAndSecretBinaryAndArmored) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "alice@example.org");
  ASSERT_TRUE(key.ok());
  for (bool armored : {false, true}) {
    auto pub = ring.export_public(key->fingerprint(), armored);
    ASSERT_TRUE(pub.ok()) << pub.error().reason;
    EXPECT_EQ(pub->find("BEGIN PGP PUBLIC KEY BLOCK") != std::string::npos, armored);
    auto other = make_keyring();
    auto imported = other.import_keys(pub.value());
    ASSERT_TRUE(imported.ok()) << imported.error().reason;
    ASSERT_EQ(imported->size(), 1u);
    EXPECT_EQ(imported->at(0).fingerprint(), key->fingerprint());
    EXPECT_FALSE(imported->at(0).has_secret());

    auto sec = ring.export_secret(key->fingerprint(), armored);
    ASSERT_TRUE(sec.ok()) << sec.error().reason;
    EXPECT_EQ(sec->view().find("BEGIN PGP PRIVATE KEY BLOCK") != std::string::npos, armored);
    auto third = make_keyring();
    auto imported_sec = third.import_keys(sec->view());
    ASSERT_TRUE(imported_sec.ok()) << imported_sec.error().reason;
    EXPECT_TRUE(imported_sec->at(0).has_secret());
    EXPECT_TRUE(third.key_for_address("alice@example.org", Usage::sign).ok());
  }
}

TEST(Keyring, SecretExportWithPassphraseNeedsItOnImport) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "alice@example.org");
  ASSERT_TRUE(key.ok());
  auto sec = ring.export_secret(key->fingerprint(), true, "correct horse");
  ASSERT_TRUE(sec.ok()) << sec.error().reason;

  auto no_pass = make_keyring();
  auto r1 = no_pass.import_keys(sec->view());
  EXPECT_EQ(r1.error().kind, ErrorKind::wrong_passphrase);
  EXPECT_TRUE(no_pass.list().empty()) << "import must be all-or-nothing";

  auto wrong = make_keyring();
  EXPECT_EQ(wrong.import_keys(sec->view(), "battery staple").error().kind,
            ErrorKind::wrong_passphrase);

  auto right = make_keyring();
  auto r3 = right.import_keys(sec->view(), "correct horse");
  ASSERT_TRUE(r3.ok()) << r3.error().reason;
  EXPECT_TRUE(right.key_for_address("alice@example.org", Usage::sign).ok());
}

TEST(Keyring, RejectsGarbage) {
  auto ring = make_keyring();
  auto r = ring.import_keys(std::string_view("this is not a key"));
  EXPECT_FALSE(r.ok());
  auto empty = ring.import_keys(std::string_view(""));
  EXPECT_FALSE(empty.ok());
}

TEST(KeyForAddress, MatchesDomainCaseInsensitivelyAndLocalPartExactly) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "Alice@Example.org");
  ASSERT_TRUE(key.ok());
  auto hit = ring.key_for_address("Alice@EXAMPLE.ORG", Usage::encrypt);
  ASSERT_TRUE(hit.ok()) << hit.error().reason;
  EXPECT_EQ(hit->primary_fingerprint, key->fingerprint());
  EXPECT_EQ(hit->key_fingerprint, key->subkeys[0].fingerprint);
  auto sign = ring.key_for_address("Alice@example.org", Usage::sign);
  ASSERT_TRUE(sign.ok());
  EXPECT_EQ(sign->key_fingerprint, key->fingerprint());
  EXPECT_EQ(ring.key_for_address("alice@example.org", Usage::encrypt).error().kind,
            ErrorKind::not_found);
  EXPECT_EQ(ring.key_for_address("bob@example.org", Usage::encrypt).error().kind,
            ErrorKind::not_found);
}

TEST(KeyForAddress, PublicOnlyKeyCannotSign) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "alice@example.org");
  ASSERT_TRUE(key.ok());
  auto pub = ring.export_public(key->fingerprint(), false);
  auto other = make_keyring();
  ASSERT_TRUE(other.import_keys(pub.value()).ok());
  EXPECT_TRUE(other.key_for_address("alice@example.org", Usage::encrypt).ok());
  EXPECT_EQ(other.key_for_address("alice@example.org", Usage::sign).error().kind,
            ErrorKind::unusable_key);
}

// An expired key: created ten days ago (Keyring::set_time, RNP's rnp_set_timestamp)
// with a one-day lifetime. No faketime needed.
TEST(KeyForAddress, ExpiredKeyIsNotUsedForEncryption) {
  auto ring = make_keyring();
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  ring.set_time(now - 24h * 10);
  auto key = generate_key(ring, "old@example.org", {.lifetime = 24h});
  ASSERT_TRUE(key.ok()) << key.error().reason;
  EXPECT_TRUE(ring.key_for_address("old@example.org", Usage::encrypt).ok()) << "valid back then";
  // Today, as the gateway sees it: the key comes from the store into a fresh keyring.
  auto pub = ring.export_public(key->fingerprint(), false);
  ASSERT_TRUE(pub.ok());
  auto today = make_keyring();
  ASSERT_TRUE(today.import_keys(pub.value()).ok());
  auto info = today.info(key->fingerprint());
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->primary.expired);
  ASSERT_TRUE(info->primary.expires.has_value());
  auto r = today.key_for_address("old@example.org", Usage::encrypt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::unusable_key) << r.error().reason;
  EXPECT_FALSE(today.usable_key(key->fingerprint(), Usage::encrypt).ok());

  // A newer valid key for the same address is chosen over the expired one.
  auto fresh = generate_key(today, "old@example.org");
  ASSERT_TRUE(fresh.ok());
  auto r2 = today.key_for_address("old@example.org", Usage::encrypt);
  ASSERT_TRUE(r2.ok()) << r2.error().reason;
  EXPECT_EQ(r2->primary_fingerprint, fresh->fingerprint());
}

TEST(Keyring, RemoveDeletesKey) {
  auto ring = make_keyring();
  auto key = generate_key(ring, "alice@example.org");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ring.list().size(), 1u);
  EXPECT_TRUE(ring.remove(key->fingerprint()).ok());
  EXPECT_TRUE(ring.list().empty());
  EXPECT_EQ(ring.remove(key->fingerprint()).error().kind, ErrorKind::not_found);
}

}  // namespace
}  // namespace mailseal::openpgp
