// PKCS#11 against a real SoftHSM2 token (skipped when softhsm2 is not installed):
// generate_in_token (RSA and EC keys that stay in the token, certificate in token and
// store), Pkcs11KeySource lookups, CMS sign/verify and encrypt/decrypt (RSA PKCS#1 v1.5,
// RSA-OAEP, ECDH) with the token key from several threads at once, and the failures that
// must become SourceError{"pkcs11"}: missing module, missing token, wrong PIN (not
// retried with the same PIN, so the token's retry counter is not burnt).
#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "keys/key_admin.h"
#include "keys/pkcs11_generate.h"
#include "keys/pkcs11_key_source.h"
#include "keys/x509_util.h"
#include "keys_test_util.h"

namespace mailseal::keys {
namespace {

using testing::TempDir;

const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
const char* kLabel = "mailseal-unit";

// One SoftHSM configuration and token for the whole test program (SoftHSM reads
// SOFTHSM2_CONF at C_Initialize).
class SoftHsm : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::access(kModule, R_OK) != 0 || std::system("command -v softhsm2-util >/dev/null") != 0)
      return;
    auto conf = dir_.path() / "softhsm2.conf";
    std::filesystem::create_directory(dir_.path() / "tokens");
    std::ofstream(conf) << "directories.tokendir = " << (dir_.path() / "tokens").string()
                        << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    std::string cmd = std::string("softhsm2-util --init-token --free --label ") + kLabel +
                      " --pin 1234 --so-pin 5678 >/dev/null";
    available = std::system(cmd.c_str()) == 0;
  }
  static inline bool available = false;
  TempDir dir_;
};
const auto* const env = ::testing::AddGlobalTestEnvironment(new SoftHsm);

std::filesystem::path pin_file(const TempDir& d, const std::string& pin) {
  auto p = d.path() / ("pin-" + pin);
  std::ofstream(p) << pin << "\n";
  ::chmod(p.c_str(), 0600);
  return p;
}

std::string cms_roundtrip(const SecretKeyRecord& r, int mode) {
  // mode 0: default (RSA PKCS#1 v1.5 / ECDH), 1: RSA-OAEP with SHA-256.
  const std::string text = "Subject: t\r\n\r\nhello from the token\r\n";
  crypto::BioPtr in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  CMS_ContentInfo* cms =
      CMS_encrypt(nullptr, in.get(), EVP_aes_256_cbc(), CMS_PARTIAL | CMS_BINARY);
  CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms, r.cert.get(), mode == 1 ? CMS_KEY_PARAM : 0);
  if (mode == 1) {
    EVP_PKEY_CTX* pc = CMS_RecipientInfo_get0_pkey_ctx(ri);
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256());
  }
  if (!ri || !CMS_final(cms, in.get(), nullptr, CMS_BINARY)) return "encrypt failed";
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  bool ok = CMS_decrypt(cms, r.key.get(), r.cert.get(), nullptr, out.get(), CMS_BINARY) == 1;
  CMS_ContentInfo_free(cms);
  if (!ok) return "decrypt failed: " + openssl_error();
  char* p = nullptr;
  long n = BIO_get_mem_data(out.get(), &p);
  if (std::string(p, static_cast<std::size_t>(n)) != text) return "decrypted text differs";

  crypto::BioPtr data(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  CMS_ContentInfo* sig =
      CMS_sign(r.cert.get(), r.key.get(), nullptr, data.get(), CMS_BINARY | CMS_DETACHED);
  if (!sig) return "sign failed: " + openssl_error();
  X509_STORE* store = X509_STORE_new();
  for (const auto& c : r.chain) X509_STORE_add_cert(store, c.get());
  crypto::BioPtr again(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  X509_STORE_set_purpose(store, X509_PURPOSE_SMIME_SIGN);
  ok = CMS_verify(sig, nullptr, store, again.get(), nullptr, CMS_BINARY) == 1;
  CMS_ContentInfo_free(sig);
  X509_STORE_free(store);
  return ok ? "" : "verify failed: " + openssl_error();
}

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SoftHsm::available) GTEST_SKIP() << "softhsm2 not installed";
    paths_ = StatePaths::under(dir_.path() / "state");
    ASSERT_TRUE(KeyAdmin::init(paths_));
    auto a = KeyAdmin::open(paths_);
    ASSERT_TRUE(a) << a.error();
    admin_.emplace(std::move(a).value());
    ASSERT_TRUE(admin_->ca_init({{"example.org"}, KeyAlgorithm::p256, 3650, "Test CA"}));
  }
  Pkcs11Settings settings(const std::string& pin = "1234", std::string label = kLabel) {
    return {kModule, std::move(label), pin_file(dir_, pin)};
  }
  TempDir dir_;
  StatePaths paths_;
  std::optional<KeyAdmin> admin_;
};

TEST_F(Pkcs11Test, GeneratedKeysSignAndDecryptInTheTokenFromManyThreads) {
  // The token lives as long as the test program: fresh addresses on --gtest_repeat.
  static int run = 0;
  const std::string alice = "Alice" + std::to_string(run) + "@example.org";
  const std::string erin = "erin" + std::to_string(run++) + "@example.org";
  auto rsa =
      generate_in_token(*admin_, settings(), alice.substr(0, alice.find('@')) + "@Example.ORG",
                        {KeyAlgorithm::rsa2048, false, 30}, system_now());
  ASSERT_TRUE(rsa) << rsa.error();
  EXPECT_EQ(rsa->address, alice);
  EXPECT_EQ(rsa->algorithm, "RSA-2048");
  auto ec =
      generate_in_token(*admin_, settings(), erin, {KeyAlgorithm::p256, false, 30}, system_now());
  ASSERT_TRUE(ec) << ec.error();

  // The store has the certificates, public only.
  auto rows = admin_->list();
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows.value().size(), 2u);
  for (const auto& row : rows.value()) EXPECT_FALSE(row.has_secret) << row.address;
  std::optional<SourceError> err;
  EXPECT_EQ(admin_->store().find_public(alice, KeyKind::smime, err).size(), 1u);
  EXPECT_TRUE(admin_->store().find_secret(alice, KeyKind::smime, err).empty());

  Pkcs11KeySource source(settings());
  auto found = source.find_secret(alice, KeyKind::smime, err);
  ASSERT_FALSE(err) << err->reason;
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].fingerprint, rsa->fingerprint);
  ASSERT_EQ(found[0].chain.size(), 1u);  // the internal CA, from the token
  EXPECT_TRUE(source.find_secret("a" + alice.substr(1), KeyKind::smime, err).empty());
  EXPECT_TRUE(source.find_secret(alice, KeyKind::openpgp, err).empty());
  EXPECT_TRUE(source.find_public(alice, KeyKind::smime, err).empty());
  EXPECT_EQ(cms_roundtrip(found[0], 0), "");
  EXPECT_EQ(cms_roundtrip(found[0], 1), "");

  auto erin_keys = source.find_secret(erin, KeyKind::smime, err);
  ASSERT_EQ(erin_keys.size(), 1u);
  EXPECT_EQ(cms_roundtrip(erin_keys[0], 0), "");

  // The crypto pool: several threads share one token key.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        std::optional<SourceError> e;
        const std::string& who = (t % 3 == 2) ? erin : alice;
        auto recs = source.find_secret(who, KeyKind::smime, e);
        if (e || recs.size() != 1 || !cms_roundtrip(recs[0], t % 3 == 1 ? 1 : 0).empty())
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(Pkcs11Test, FindSecretForAsksBeforeFetchingTheKey) {
  ASSERT_TRUE(generate_in_token(*admin_, settings(), "bob@example.org",
                                {KeyAlgorithm::p256, false, 30}, system_now()));
  Pkcs11KeySource source(settings());
  std::optional<SourceError> err;
  int asked = 0;
  auto none = source.find_secret_for(
      "bob@example.org", KeyKind::smime,
      [&](X509*) {
        ++asked;
        return false;
      },
      err);
  EXPECT_TRUE(none.empty());
  EXPECT_GE(asked, 1);
  auto one = source.find_secret_for(
      "bob@example.org", KeyKind::smime, [](X509*) { return true; }, err);
  ASSERT_FALSE(err);
  EXPECT_FALSE(one.empty());
}

TEST_F(Pkcs11Test, GenerateRefusesWhatItCannotDo) {
  auto s = settings();
  EXPECT_FALSE(generate_in_token(*admin_, s, "x@example.org", {KeyAlgorithm::p256, true, 30},
                                 system_now()));  // self-signed
  EXPECT_FALSE(generate_in_token(*admin_, s, "x@other.test", {KeyAlgorithm::p256, false, 30},
                                 system_now()));  // outside the CA's domains
  EXPECT_FALSE(generate_in_token(*admin_, settings("9999"), "x@example.org",
                                 {KeyAlgorithm::p256, false, 30}, system_now()));
  auto r = generate_in_token(*admin_, settings("1234", "no-such-token"), "x@example.org",
                             {KeyAlgorithm::p256, false, 30}, system_now());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("no token labelled"), std::string::npos) << r.error();
  EXPECT_TRUE(admin_->list("x@example.org").value().empty());
}

TEST_F(Pkcs11Test, UnusableTokenIsASourceErrorAndAWrongPinIsNotRetried) {
  std::int64_t now = system_now();
  std::vector<std::string> events;
  Pkcs11KeySource wrong(
      settings("9999"), [&] { return now; },
      [&](bool up, const std::string& d) { events.push_back((up ? "up: " : "down: ") + d); });
  std::optional<SourceError> err;
  EXPECT_TRUE(wrong.find_secret("a@example.org", KeyKind::smime, err).empty());
  ASSERT_TRUE(err);
  EXPECT_EQ(err->source, "pkcs11");
  EXPECT_NE(err->reason.find("PIN incorrect"), std::string::npos) << err->reason;
  EXPECT_EQ(err->reason.find("9999"), std::string::npos);
  ASSERT_EQ(events.size(), 1u);  // one log line for the change, not one per message
  now += Pkcs11KeySource::kRetrySeconds + 1;
  err.reset();
  wrong.find_secret("a@example.org", KeyKind::smime, err);
  ASSERT_TRUE(err);
  EXPECT_NE(err->reason.find("not retried"), std::string::npos) << err->reason;
  EXPECT_EQ(events.size(), 1u);

  // The right PIN in the file: the next attempt logs in.
  std::ofstream(dir_.path() / "pin-9999", std::ios::trunc) << "1234\n";
  now += Pkcs11KeySource::kRetrySeconds + 1;
  err.reset();
  wrong.find_secret("a@example.org", KeyKind::smime, err);
  EXPECT_FALSE(err) << err->reason;
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].rfind("up: ", 0), 0u);
}

TEST_F(Pkcs11Test, MissingTokenOrModuleIsASourceError) {
  std::optional<SourceError> err;
  Pkcs11KeySource missing(settings("1234", "not-plugged-in"));
  missing.find_secret("a@example.org", KeyKind::smime, err);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->source, "pkcs11");
  EXPECT_NE(err->reason.find("no token labelled \"not-plugged-in\""), std::string::npos);
  EXPECT_FALSE(missing.probe());

  Pkcs11KeySource no_module({"/nonexistent/libp11module.so", kLabel, pin_file(dir_, "1234")});
  err.reset();
  no_module.find_secret("a@example.org", KeyKind::smime, err);
  ASSERT_TRUE(err);
  EXPECT_NE(err->reason.find("cannot load PKCS#11 module"), std::string::npos) << err->reason;
}

}  // namespace
}  // namespace mailseal::keys
