// keys::Harvester (issue 6): a verified signer's key is filed under the From address,
// once, public material only, never over a stored key; keys that are not the signer's,
// do not name the address, are revoked or signing-only are refused.
#include "keys/harvester.h"

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

class HarvesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    paths_ = StatePaths::under(dir_.path() / "state");
    ASSERT_TRUE(KeyAdmin::init(paths_, clock()));
    auto a = KeyAdmin::open(paths_, clock());
    ASSERT_TRUE(a) << a.error();
    admin_.emplace(std::move(a).value());
    harvester_.emplace(
        admin_->store(),
        [this](std::string_view, KeyKind, const HarvestResult& r) { logged_.push_back(r.outcome); },
        clock());
  }
  static Clock clock() {
    return [] { return kNow; };
  }
  static openpgp::Keyring ring_at(std::int64_t t) {
    auto r = openpgp::Keyring::create();
    r->set_time(openpgp::Seconds(std::chrono::seconds(t)));
    return std::move(r).value();
  }
  std::vector<CertificateInfo> listed(const std::string& address) {
    auto l = admin_->store().list(address);
    EXPECT_TRUE(l) << l.error();
    return l ? l.value() : std::vector<CertificateInfo>{};
  }

  TempDir dir_;
  StatePaths paths_;
  std::optional<KeyAdmin> admin_;
  std::optional<Harvester> harvester_;
  std::vector<HarvestOutcome> logged_;
};

TEST_F(HarvesterTest, SmimeStoredOnceUnderItsAddressOnly) {
  auto carol = testing::make_identity("carol@partner.example", kNow - 100);
  auto r = harvester_->add_smime("carol@partner.example", carol.cert.get());
  EXPECT_EQ(r.outcome, HarvestOutcome::stored) << r.detail;
  auto l = listed("carol@partner.example");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_FALSE(l[0].has_secret);
  EXPECT_EQ(l[0].fingerprint, r.fingerprint);
  // Again: found by the cached lookup, nothing written, nothing logged.
  EXPECT_EQ(harvester_->add_smime("carol@partner.example", carol.cert.get()).outcome,
            HarvestOutcome::known);
  EXPECT_EQ(logged_, std::vector<HarvestOutcome>{HarvestOutcome::stored});
  // A certificate is never filed under an address it does not name.
  EXPECT_EQ(harvester_->add_smime("dave@partner.example", carol.cert.get()).outcome,
            HarvestOutcome::refused);
  EXPECT_TRUE(listed("dave@partner.example").empty());
  // Our own domains are never harvested (the operator manages those keys).
  harvester_->set_own_domains({"partner.example"});
  auto other = testing::make_identity("carol@partner.example", kNow - 70);
  auto own = harvester_->add_smime("carol@partner.example", other.cert.get());
  EXPECT_EQ(own.outcome, HarvestOutcome::refused);
  EXPECT_NE(own.detail.find("internal"), std::string::npos) << own.detail;
  EXPECT_EQ(listed("carol@partner.example").size(), 1u);
  harvester_->set_own_domains({});
  // A second (renewed) certificate is added beside the first, which stays.
  auto renewed = testing::make_identity("carol@partner.example", kNow - 50);
  EXPECT_EQ(harvester_->add_smime("carol@partner.example", renewed.cert.get()).outcome,
            HarvestOutcome::stored);
  EXPECT_EQ(listed("carol@partner.example").size(), 2u);
}

TEST_F(HarvesterTest, SmimeKeptSecretKeyIsNotTouchedAndExpiredStoredCertIsKnown) {
  // alice has a secret key in the store: harvesting her certificate changes nothing.
  ASSERT_TRUE(admin_->ca_init({.domains = {"example.org"}, .algorithm = KeyAlgorithm::p256}));
  auto gen = admin_->generate("alice@example.org", {.algorithm = KeyAlgorithm::p256});
  ASSERT_TRUE(gen) << gen.error();
  std::optional<SourceError> e;
  auto secret = admin_->store().find_secret("alice@example.org", KeyKind::smime, e);
  ASSERT_EQ(secret.size(), 1u);
  EXPECT_EQ(harvester_->add_smime("alice@example.org", secret[0].cert.get()).outcome,
            HarvestOutcome::known);
  ASSERT_EQ(listed("alice@example.org").size(), 1u);
  EXPECT_TRUE(listed("alice@example.org")[0].has_secret);
  // An expired stored certificate is not valid now, but still "there": not re-added.
  auto old = testing::make_identity("old@partner.example", kNow - 400 * 86400, 30);
  {
    auto w = admin_->store().begin_write();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->add_certificate("old@partner.example", old.cert.get()));
    ASSERT_TRUE(w->commit());
  }
  EXPECT_EQ(harvester_->add_smime("old@partner.example", old.cert.get()).outcome,
            HarvestOutcome::known);
}

class OpenpgpHarvest : public HarvesterTest {
 protected:
  void SetUp() override {
    HarvesterTest::SetUp();
    ring_.emplace(ring_at(kNow - 100));
    auto g = openpgp::generate_key(*ring_, "gary@partner.net", {.name = "Gary"});
    ASSERT_TRUE(g.ok());
    gary_ = g->fingerprint();
    gary_sub_ = g->subkeys.at(0).fingerprint;
    gary_pub_ = ring_->export_public(gary_, true).value();
    auto r = openpgp::generate_key(*ring_, "rita@partner.net", {});
    ASSERT_TRUE(r.ok());
    rita_ = r->fingerprint();
    rita_pub_ = ring_->export_public(rita_, true).value();
  }
  std::optional<openpgp::Keyring> ring_;
  std::string gary_, gary_sub_, gary_pub_, rita_, rita_pub_;
};

TEST_F(OpenpgpHarvest, TheSignersKeyIsStoredPublicOnly) {
  // The signature was made by the primary (Ed25519 signs); the data also carries the
  // secret key, unprotected: only the public part may reach the store.
  std::string secret(ring_->export_secret(gary_, true).value().view());
  auto r = harvester_->add_openpgp("gary@partner.net", secret, gary_, gary_);
  ASSERT_EQ(r.outcome, HarvestOutcome::stored) << r.detail;
  auto l = listed("gary@partner.net");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].kind, KeyKind::openpgp);
  EXPECT_FALSE(l[0].has_secret);
  std::optional<SourceError> e;
  EXPECT_TRUE(admin_->store().find_secret("gary@partner.net", KeyKind::openpgp, e).empty());
  auto pub = admin_->store().find_public("gary@partner.net", KeyKind::openpgp, e);
  ASSERT_EQ(pub.size(), 1u);
  auto check = ring_at(kNow);
  auto imported = check.import_keys(pub[0].openpgp);
  ASSERT_TRUE(imported.ok());
  EXPECT_FALSE(imported->front().has_secret());
  // Found by its subkey too (signatures name their issuer so), and idempotent.
  EXPECT_EQ(admin_->store().find_openpgp_by_id(gary_sub_, e).size(), 1u);
  EXPECT_EQ(harvester_->add_openpgp("gary@partner.net", gary_pub_, gary_, gary_sub_).outcome,
            HarvestOutcome::known);
}

TEST_F(OpenpgpHarvest, OnlyTheVeryKeyThatSignedAndNamesFrom) {
  // Rita's key carried, Gary's key signed: not stored (neither under gary nor rita).
  auto r = harvester_->add_openpgp("gary@partner.net", rita_pub_, gary_, gary_);
  EXPECT_EQ(r.outcome, HarvestOutcome::refused);
  EXPECT_NE(r.detail.find("not the signer"), std::string::npos) << r.detail;
  // Gary's key, but the signature named a key it does not hold.
  r = harvester_->add_openpgp("gary@partner.net", gary_pub_, gary_, rita_);
  EXPECT_EQ(r.outcome, HarvestOutcome::refused);
  // Gary's key under another From: no user ID carries it.
  r = harvester_->add_openpgp("gari@partner.net", gary_pub_, gary_, gary_);
  EXPECT_EQ(r.outcome, HarvestOutcome::refused);
  EXPECT_NE(r.detail.find("user ID"), std::string::npos) << r.detail;
  // Garbage.
  EXPECT_EQ(harvester_->add_openpgp("gary@partner.net", "not a key", gary_, gary_).outcome,
            HarvestOutcome::refused);
  EXPECT_TRUE(listed("gary@partner.net").empty());
  EXPECT_TRUE(listed("gari@partner.net").empty());
}

TEST_F(OpenpgpHarvest, RevokedCarriedKeyIsRefusedAndStoredKeyNeverOverwritten) {
  rnp_key_handle_t h = nullptr;
  ASSERT_EQ(rnp_locate_key(ring_->ffi(), "fingerprint", gary_.c_str(), &h), 0u);
  ASSERT_EQ(rnp_key_revoke(h, 0, nullptr, nullptr, "retired"), 0u);
  rnp_key_handle_destroy(h);
  std::string revoked = ring_->export_public(gary_, true).value();
  EXPECT_EQ(harvester_->add_openpgp("gary@partner.net", revoked, gary_, gary_).outcome,
            HarvestOutcome::refused);
  EXPECT_TRUE(listed("gary@partner.net").empty());
  // Rita's key is stored (by the operator); a carried copy is not written over it.
  ASSERT_TRUE(admin_->import(rita_pub_, {}, nullptr));
  auto before = listed("rita@partner.net");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(harvester_->add_openpgp("rita@partner.net", rita_pub_, rita_, rita_).outcome,
            HarvestOutcome::known);
}

}  // namespace
}  // namespace mailseal::keys
