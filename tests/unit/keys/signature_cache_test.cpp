// SignatureCache: a remembered success never lets a different object or key through.
#include "keys/signature_cache.h"

#include <gtest/gtest.h>

#include "../crypto/test_pki.h"

namespace mailseal::keys {
namespace {

using testpki::Identity;

class SignatureCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Identity(testpki::make_ca("Cache Test CA"));
    other_ = new Identity(testpki::make_ca("Other CA"));
    user_ = new Identity(testpki::make_leaf(*ca_, {"user@example.org"}));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_;
    delete user_;
  }
  static Identity* ca_;
  static Identity* other_;
  static Identity* user_;
};
Identity* SignatureCacheTest::ca_ = nullptr;
Identity* SignatureCacheTest::other_ = nullptr;
Identity* SignatureCacheTest::user_ = nullptr;

TEST_F(SignatureCacheTest, RemembersOnlySuccesses) {
  SignatureCache cache;
  EXPECT_FALSE(cache.verify_cert(user_->cert.get(), other_->cert.get()));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(cache.verify_cert(user_->cert.get(), ca_->cert.get()));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.verify_cert(user_->cert.get(), ca_->cert.get()));  // the hit
  EXPECT_EQ(cache.size(), 1u);
  // The remembered pair does not vouch for the same certificate under another key.
  EXPECT_FALSE(cache.verify_cert(user_->cert.get(), other_->cert.get()));
}

TEST_F(SignatureCacheTest, ATamperedCopyOfAVerifiedCertificateFails) {
  SignatureCache cache;
  ASSERT_TRUE(cache.verify_cert(user_->cert.get(), ca_->cert.get()));
  // One byte of the signed part changed in the DER (the address in the subject): the
  // digest of the object differs, so the cache has no say, and the signature fails.
  unsigned char* der = nullptr;
  int len = i2d_X509(user_->cert.get(), &der);
  ASSERT_GT(len, 0);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  auto at = bytes.find("user@example.org");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 3] = 's';  // "uses@example.org"
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  crypto::X509Ptr forged(d2i_X509(nullptr, &p, len));
  ASSERT_TRUE(forged);
  EXPECT_FALSE(cache.verify_cert(forged.get(), ca_->cert.get()));
}

TEST_F(SignatureCacheTest, CrlsByTheirIssuerKey) {
  SignatureCache cache;
  auto crl = testpki::make_crl(*ca_, {7});
  auto forged = testpki::make_crl(*other_, {7});
  X509_CRL_set_issuer_name(forged.get(), X509_get_subject_name(ca_->cert.get()));
  EXPECT_TRUE(cache.verify_crl(crl.get(), ca_->cert.get()));
  EXPECT_TRUE(cache.verify_crl(crl.get(), ca_->cert.get()));
  EXPECT_FALSE(cache.verify_crl(forged.get(), ca_->cert.get()));
  EXPECT_FALSE(cache.verify_crl(crl.get(), other_->cert.get()));
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(SignatureCacheTest, BoundedStartsOverWhenFull) {
  SignatureCache cache(1);
  auto second = testpki::make_leaf(*ca_, {"second@example.org"});
  ASSERT_TRUE(cache.verify_cert(user_->cert.get(), ca_->cert.get()));
  ASSERT_TRUE(cache.verify_cert(second.cert.get(), ca_->cert.get()));
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace mailseal::keys
