// KeyAdmin: the operator operations end to end on a temporary state directory:
// init, internal CA, generate + chain verification, import of PKCS#12 and PEM (and the
// failures that must leave the store unchanged), export, remove, master-key rotation.

#include "keys/key_admin.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509_vfy.h>

#include <cstring>

#include "keys/pkcs12_gpgsm.h"
#include "keys/x509_util.h"
#include "keys_test_util.h"

namespace mailseal::keys {
namespace {

using testing::kNow;
using testing::make_identity;
using testing::TempDir;

SecretBytes pass(const char* s) {
  return SecretBytes(s, std::strlen(s));
}

std::string pkcs12_of(const testing::Identity& id, const char* passphrase) {
  PKCS12* p12 = PKCS12_create(passphrase, "x", id.key.get(), id.cert.get(), nullptr, 0, 0, 0, 0, 0);
  unsigned char* der = nullptr;
  int n = i2d_PKCS12(p12, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  PKCS12_free(p12);
  return out;
}

std::string pem_key(EVP_PKEY* key) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

class AdminTest : public ::testing::Test {
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
  std::size_t count() { return admin_->list().value().size(); }

  TempDir dir_;
  StatePaths paths_;
  std::optional<KeyAdmin> admin_;
};

TEST_F(AdminTest, InitRefusesSecondRun) {
  auto again = KeyAdmin::init(paths_);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().find("already initialised"), std::string::npos);
}

TEST_F(AdminTest, CaGenerateVerifiesAgainstCa) {
  ASSERT_TRUE(admin_->ca_init({{"example.org"}, KeyAlgorithm::p256, 3650, "Test CA"}));
  EXPECT_FALSE(admin_->ca_init({{"example.org"}, KeyAlgorithm::p256, 3650, "Again"}));
  auto info = admin_->generate("alice@Example.org", {KeyAlgorithm::p256, false, 365});
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->address, "alice@example.org");
  EXPECT_EQ(info->algorithm, "EC-P-256");
  auto outside = admin_->generate("eve@elsewhere.net", {KeyAlgorithm::p256, false, 365});
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().find("not elsewhere.net"), std::string::npos);

  std::optional<SourceError> err;
  auto sec = admin_->store().find_secret("alice@example.org", KeyKind::smime, err);
  ASSERT_EQ(sec.size(), 1u);
  ASSERT_EQ(sec[0].chain.size(), 1u);
  crypto::X509StorePtr store(X509_STORE_new());
  for (auto& a : admin_->store().trust_anchors(err)) X509_STORE_add_cert(store.get(), a.get());
  auto ctx = std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)>(X509_STORE_CTX_new(),
                                                                             X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), sec[0].cert.get(), nullptr);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(kNow + 60));
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SMIME_SIGN);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  EXPECT_NE(admin_->ca_certificate_pem().value().find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(AdminTest, GenerateRsaSelfSignedAndNeedsCaOtherwise) {
  EXPECT_FALSE(admin_->generate("bob@example.org", {KeyAlgorithm::rsa2048, false, 365}));
  auto info = admin_->generate("bob@example.org", {KeyAlgorithm::rsa2048, true, 365});
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->algorithm, "RSA-2048");
  EXPECT_FALSE(admin_->generate("not an address", {KeyAlgorithm::p256, true, 365}));
}

TEST_F(AdminTest, ImportPkcs12WithPassphrase) {
  auto id = make_identity("alice@example.org");
  auto file = pkcs12_of(id, "correct horse");
  auto p = pass("correct horse");
  auto lines = admin_->import(file, {}, &p);
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(count(), 1u);
  EXPECT_TRUE(admin_->list().value()[0].has_secret);
}

TEST_F(AdminTest, FailedImportsLeaveStoreUnchanged) {
  admin_->generate("keep@example.org", {KeyAlgorithm::p256, true, 365}).value();
  auto id = make_identity("alice@example.org");
  auto file = pkcs12_of(id, "correct horse");
  auto wrong = pass("wrong");
  auto r = admin_->import(file, {}, &wrong);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "wrong passphrase for the PKCS#12 file");
  r = admin_->import(file, {}, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("needs a passphrase"), std::string::npos);
  auto right = pass("correct horse");
  r = admin_->import(file, {.address = "bob@example.org"}, &right);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("does not match bob@example.org"), std::string::npos);
  r = admin_->import("\x30\x03garbage", {}, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("malformed"), std::string::npos);
  r = admin_->import(file.substr(0, file.size() / 2), {}, &right);
  EXPECT_FALSE(r);
  EXPECT_EQ(count(), 1u);
}

TEST_F(AdminTest, ImportPemCertAndKeyAndCertificatesAndAnchors) {
  auto id = make_identity("carol@example.org");
  auto cert_pem = pem_of(id.cert.get());
  auto r = admin_->import(cert_pem, {.key_file = pem_key(id.key.get())}, nullptr);
  ASSERT_TRUE(r) << r.error();
  auto other = make_identity("dave@partner.net");
  r = admin_->import(pem_of(other.cert.get()), {}, nullptr);
  ASSERT_TRUE(r) << r.error();
  auto list = admin_->list().value();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(list[0].has_secret);   // carol
  EXPECT_FALSE(list[1].has_secret);  // dave
  // A key that matches no certificate is refused.
  auto stranger = make_identity("x@example.org");
  r = admin_->import(cert_pem, {.key_file = pem_key(stranger.key.get())}, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("matches none"), std::string::npos);
  // A bundle of CA certificates only becomes trust anchors.
  auto ca_key = generate_key(KeyAlgorithm::p256).value();
  auto ca = make_ca_certificate(ca_key.get(), "Partner CA", {}, {kNow, 100}).value();
  r = admin_->import(pem_of(ca.get()), {}, nullptr);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(admin_->store().list_trust_anchors().value().size(), 1u);
}

TEST_F(AdminTest, ExportCertificateAndPkcs12RoundTrip) {
  admin_->generate("erin@example.org", {KeyAlgorithm::p256, true, 365}).value();
  auto pem = admin_->export_certificate("erin@example.org");
  ASSERT_TRUE(pem) << pem.error();
  EXPECT_NE(pem->find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_FALSE(admin_->export_certificate("nobody@example.org"));
  EXPECT_FALSE(admin_->export_pkcs12("erin@example.org", SecretBytes(), false));
  auto p = pass("export pass");
  auto p12 = admin_->export_pkcs12("erin@example.org", p, false);
  ASSERT_TRUE(p12) << p12.error();
  // Re-import into a fresh store with the same passphrase.
  TempDir other;
  auto paths = StatePaths::under(other.path());
  ASSERT_TRUE(KeyAdmin::init(paths));
  auto admin2 = KeyAdmin::open(paths, clock()).value();
  ASSERT_TRUE(admin2.import(p12.value(), {}, &p));
  EXPECT_TRUE(admin2.list().value().at(0).has_secret);
}

TEST_F(AdminTest, LegacyPkcs12IsOneGpgsm22CanDecrypt) {
  admin_->generate("erin@example.org", {KeyAlgorithm::p256, true, 365}).value();
  auto too_long = pass("a passphrase of thirty-two bytes");
  auto refused = admin_->export_pkcs12("erin@example.org", too_long, true);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("gpgsm 2.2"), std::string::npos) << refused.error();
  // Each export draws fresh salts; every one must be a file gpgsm 2.2 derives keys for.
  auto p = pass("export pass");
  for (int n = 0; n < 64; ++n) {
    auto der = admin_->export_pkcs12("erin@example.org", p, true);
    ASSERT_TRUE(der) << der.error();
    const auto* in = reinterpret_cast<const unsigned char*>(der->data());
    PKCS12* p12 = d2i_PKCS12(nullptr, &in, static_cast<long>(der->size()));
    ASSERT_NE(p12, nullptr);
    auto readable = gpgsm22_can_decrypt(*p12, "export pass");
    PKCS12_free(p12);
    ASSERT_TRUE(readable) << readable.error();
    EXPECT_TRUE(readable.value());
  }
}

TEST_F(AdminTest, RemoveByAddressOrFingerprint) {
  auto a = admin_->generate("f@example.org", {KeyAlgorithm::p256, true, 365}).value();
  admin_->generate("g@example.org", {KeyAlgorithm::p256, true, 365}).value();
  EXPECT_EQ(admin_->remove(a.fingerprint).value(), 1);
  EXPECT_EQ(admin_->remove("g@EXAMPLE.org").value(), 1);
  EXPECT_FALSE(admin_->remove("g@example.org"));
  EXPECT_FALSE(admin_->remove("nonsense"));
  EXPECT_EQ(count(), 0u);
}

TEST_F(AdminTest, RotateMasterKey) {
  admin_->ca_init({{"example.org"}, KeyAlgorithm::p256, 3650, "CA"}).value();
  admin_->generate("h@example.org", {KeyAlgorithm::p256, false, 365}).value();
  auto old_id = MasterKey::load(paths_.master_key).value().id();
  ASSERT_TRUE(admin_->rotate_master_key());
  auto new_key = MasterKey::load(paths_.master_key);
  ASSERT_TRUE(new_key) << new_key.error();
  EXPECT_NE(new_key->id(), old_id);
  admin_.reset();
  auto reopened = KeyAdmin::open(paths_, clock());
  ASSERT_TRUE(reopened) << reopened.error();
  std::optional<SourceError> err;
  EXPECT_EQ(reopened->store().find_secret("h@example.org", KeyKind::smime, err).size(), 1u);
  EXPECT_TRUE(reopened->store().internal_ca());
}

TEST_F(AdminTest, InterruptedRotationIsFinishedOrDiscarded) {
  admin_->generate("i@example.org", {KeyAlgorithm::p256, true, 365}).value();
  // Crash after writing master.key.new but before the commit: the new file is discarded.
  auto pending = paths_.master_key;
  pending += ".new";
  ASSERT_TRUE(MasterKey::generate().value().write_new(pending));
  admin_.reset();
  ASSERT_TRUE(KeyAdmin::open(paths_, clock()));
  EXPECT_FALSE(std::filesystem::exists(pending));
  // Crash after the commit but before the rename: the new file becomes the key.
  auto admin = KeyAdmin::open(paths_, clock()).value();
  auto next = MasterKey::generate().value();
  ASSERT_TRUE(next.write_new(pending));
  ASSERT_TRUE(admin.store().reseal_all(std::move(next)));
  auto reopened = KeyAdmin::open(paths_, clock());
  ASSERT_TRUE(reopened) << reopened.error();
  std::optional<SourceError> err;
  EXPECT_EQ(reopened->store().find_secret("i@example.org", KeyKind::smime, err).size(), 1u);
}

}  // namespace
}  // namespace mailseal::keys
