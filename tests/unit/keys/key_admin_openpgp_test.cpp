// OpenPGP keys in the SQLite store through KeyAdmin (issue 4): generate (Ed25519 default,
// RSA-3072), import of armored/binary public and protected secret keys, lookup per
// user-ID address and by (sub)key ID, export, list, remove, master-key rotation, and
// that expired and revoked keys are not returned for encryption.
#include <gtest/gtest.h>
#include <rnp/rnp.h>

#include <optional>

#include "keys/key_admin.h"
#include "keys_test_util.h"
#include "openpgp/generate.h"
#include "openpgp/keyring.h"

namespace mailseal::keys {
namespace {

using testing::kNow;
using testing::TempDir;

class OpenpgpAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    paths_ = StatePaths::under(dir_.path() / "state");
    ASSERT_TRUE(KeyAdmin::init(paths_, clock()));
    auto a = KeyAdmin::open(paths_, clock());
    ASSERT_TRUE(a) << a.error();
    admin_.emplace(std::move(a).value());
  }
  Clock clock() {
    return [] { return kNow; };
  }
  // A key made outside the store (as a correspondent's tool would), at the test clock.
  static openpgp::Keyring ring_at(std::int64_t t) {
    auto r = openpgp::Keyring::create();
    r->set_time(openpgp::Seconds(std::chrono::seconds(t)));
    return std::move(r).value();
  }
  std::vector<PublicKeyRecord> pub(const std::string& a) {
    std::optional<SourceError> e;
    auto r = admin_->store().find_public(a, KeyKind::openpgp, e);
    EXPECT_FALSE(e);
    return r;
  }

  TempDir dir_;
  StatePaths paths_;
  std::optional<KeyAdmin> admin_;
};

TEST_F(OpenpgpAdminTest, GenerateStoresPublicAndSealedSecret) {
  auto info = admin_->generate_openpgp("Alice@Example.ORG", {});
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->address, "Alice@example.org");
  EXPECT_EQ(info->algorithm, "ed25519+cv25519");
  EXPECT_EQ(info->fingerprint.size(), 40u);
  EXPECT_EQ(info->not_after, kNoExpiry);
  auto p = pub("Alice@example.org");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].fingerprint, info->fingerprint);
  EXPECT_FALSE(p[0].openpgp.empty());
  std::optional<SourceError> e;
  auto s = admin_->store().find_secret("Alice@example.org", KeyKind::openpgp, e);
  ASSERT_EQ(s.size(), 1u);
  // The stored secret key works: it signs for the address.
  auto ring = ring_at(kNow);
  ASSERT_TRUE(ring.import_keys(s[0].openpgp).ok());
  EXPECT_TRUE(ring.key_for_address("Alice@example.org", openpgp::Usage::sign).ok());
  // Not returned as S/MIME; listed with user IDs.
  EXPECT_TRUE(admin_->store().find_public("Alice@example.org", KeyKind::smime, e).empty());
  auto rows = admin_->list();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->at(0).kind, KeyKind::openpgp);
  EXPECT_TRUE(rows->at(0).has_secret);
  EXPECT_EQ(rows->at(0).user_ids, std::vector<std::string>{"<Alice@example.org>"});
}

TEST_F(OpenpgpAdminTest, RsaAndExpiry) {
  auto info = admin_->generate_openpgp("rsa@example.org", {OpenpgpAlgorithm::rsa3072, 10, ""});
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->algorithm, "rsa3072+rsa3072");
  EXPECT_EQ(info->not_after, kNow + 10 * 86400);
}

TEST_F(OpenpgpAdminTest, ImportsEveryUserIdAddressAndProtectedSecretKeys) {
  auto ring = ring_at(kNow - 100);
  auto k = openpgp::generate_key(ring, "carol@partner.net", {.name = "Carol"});
  ASSERT_TRUE(k.ok());
  std::string fpr = k->fingerprint();
  std::string armored = ring.export_public(fpr, true).value();
  auto lines = admin_->import(armored, {}, nullptr);
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(pub("carol@partner.net").size(), 1u);
  // Binary, protected secret key: needs the passphrase; all or nothing.
  auto secret = ring.export_secret(fpr, false, "s3cret").value();
  std::string bin(secret.view());
  EXPECT_TRUE(is_openpgp_data(bin));
  auto no_pass = admin_->import(bin, {}, nullptr);
  EXPECT_FALSE(no_pass);
  EXPECT_NE(no_pass.error().find("passphrase"), std::string::npos);
  SecretBytes wrong("nope", 4), right("s3cret", 6);
  EXPECT_FALSE(admin_->import(bin, {}, &wrong));
  auto ok = admin_->import(bin, {}, &right);
  ASSERT_TRUE(ok) << ok.error();
  std::optional<SourceError> e;
  EXPECT_EQ(admin_->store().find_secret("carol@partner.net", KeyKind::openpgp, e).size(), 1u);
  // --address must be carried by a valid user ID.
  ImportOptions other;
  other.address = "dave@partner.net";
  EXPECT_FALSE(admin_->import(armored, other, nullptr));
}

TEST_F(OpenpgpAdminTest, FindBySubkeyIdAndRemoveByFingerprint) {
  auto info = admin_->generate_openpgp("alice@example.org", {});
  ASSERT_TRUE(info);
  auto ring = ring_at(kNow);
  ASSERT_TRUE(ring.import_keys(pub("alice@example.org")[0].openpgp).ok());
  auto key = ring.info(info->fingerprint).value();
  ASSERT_EQ(key.subkeys.size(), 1u);
  std::string subkey_id = key.subkeys[0].fingerprint.substr(24);
  std::optional<SourceError> e;
  auto found = admin_->store().find_openpgp_by_id(subkey_id, e);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].fingerprint, info->fingerprint);
  EXPECT_EQ(admin_->store().find_openpgp_by_id(key.subkeys[0].fingerprint, e).size(), 1u);
  // Export round trip, then remove by the primary fingerprint.
  auto exported = admin_->export_openpgp("alice@example.org");
  ASSERT_TRUE(exported);
  EXPECT_NE(exported->find("BEGIN PGP PUBLIC KEY BLOCK"), std::string::npos);
  EXPECT_TRUE(admin_->export_openpgp(info->fingerprint));
  SecretBytes pass("pw", 2);
  auto sec = admin_->export_openpgp_secret("alice@example.org", pass);
  ASSERT_TRUE(sec) << sec.error();
  auto check = ring_at(kNow);
  EXPECT_FALSE(check.import_keys(sec.value()).ok());  // protected: needs "pw"
  EXPECT_TRUE(check.import_keys(sec.value(), "pw").ok());
  auto n = admin_->remove(info->fingerprint);
  ASSERT_TRUE(n) << n.error();
  EXPECT_TRUE(pub("alice@example.org").empty());
  EXPECT_TRUE(admin_->store().find_openpgp_by_id(subkey_id, e).empty());
}

TEST_F(OpenpgpAdminTest, ExpiredAndRevokedKeysAreNotReturned) {
  // Expired: made 10 days before the clock with a 1-day lifetime.
  auto old = ring_at(kNow - 10 * 86400);
  auto k = openpgp::generate_key(old, "old@partner.net", {.lifetime = std::chrono::seconds(86400)});
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(admin_->import(old.export_public(k->fingerprint(), true).value(), {}, nullptr));
  EXPECT_TRUE(pub("old@partner.net").empty());
  // Revoked: gpg-style revocation merged into the stored key on re-import.
  auto gen = admin_->generate_openpgp("rev@example.org", {});
  ASSERT_TRUE(gen);
  EXPECT_EQ(pub("rev@example.org").size(), 1u);
  auto ring = ring_at(kNow);
  std::optional<SourceError> e;
  auto sec = admin_->store().find_secret("rev@example.org", KeyKind::openpgp, e);
  ASSERT_TRUE(ring.import_keys(sec[0].openpgp).ok());
  rnp_key_handle_t h = nullptr;
  ASSERT_EQ(rnp_locate_key(ring.ffi(), "fingerprint", gen->fingerprint.c_str(), &h), 0u);
  ASSERT_EQ(rnp_key_revoke(h, 0, nullptr, nullptr, "retired"), 0u);
  rnp_key_handle_destroy(h);
  std::string updated = ring.export_public(gen->fingerprint, true).value();
  auto st = admin_->import(updated, {}, nullptr);
  ASSERT_TRUE(st) << st.error();
  EXPECT_TRUE(pub("rev@example.org").empty());
}

TEST_F(OpenpgpAdminTest, RotationResealsOpenpgpSecrets) {
  ASSERT_TRUE(admin_->generate_openpgp("alice@example.org", {}));
  ASSERT_TRUE(admin_->rotate_master_key());
  std::optional<SourceError> e;
  auto s = admin_->store().find_secret("alice@example.org", KeyKind::openpgp, e);
  EXPECT_FALSE(e) << e->reason;
  EXPECT_EQ(s.size(), 1u);
}

TEST(OpenpgpDetect, ArmorAndPacketTags) {
  EXPECT_TRUE(is_openpgp_data("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
  EXPECT_TRUE(is_openpgp_data("junk\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n"));
  EXPECT_TRUE(is_openpgp_data(std::string("\x99\x01\x0d", 3)));  // old format, tag 6
  EXPECT_TRUE(is_openpgp_data(std::string("\xc5\x20", 2)));      // new format, tag 5
  EXPECT_FALSE(is_openpgp_data(std::string("\x30\x82", 2)));     // DER
  EXPECT_FALSE(is_openpgp_data("-----BEGIN CERTIFICATE-----\n"));
  EXPECT_FALSE(is_openpgp_data(std::string("\x8c\x0d", 2)));  // old format, tag 3
}

}  // namespace
}  // namespace mailseal::keys
