// The gpgsm 2.2 PKCS#12 compatibility judge, checked against a model of gpgsm's own key
// derivation (minip12.c string_to_key: the I blocks are updated with gcry_mpi_add and
// written back with gcry_mpi_print, which leaves out leading zero bytes) and against
// OpenSSL's RFC 7292 derivation.
#include "keys/pkcs12_gpgsm.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "keys_test_util.h"

namespace mailseal::keys {
namespace {

const std::string kPass = "interop pass phrase";

std::vector<unsigned char> bmp(const std::string& ascii) {
  std::vector<unsigned char> out;
  for (char c : ascii) {
    out.push_back(0);
    out.push_back(static_cast<unsigned char>(c));
  }
  out.push_back(0);
  out.push_back(0);
  return out;
}

// gpgsm 2.2's string_to_key(id = 1), transcribed: 64 bytes of salt, 64 bytes of
// password, and the mpi round trip that shifts a block with a leading zero byte.
std::vector<unsigned char> gpgsm_model_key(const std::vector<unsigned char>& salt, int iter,
                                           const std::string& pw, std::size_t keylen) {
  unsigned char buf_i[128];
  for (int i = 0; i < 64; ++i) buf_i[i] = salt[i % salt.size()];
  for (std::size_t i = 0, j = 0; i < 64; i += 2) {
    buf_i[64 + i] = 0;
    buf_i[64 + i + 1] = j < pw.size() ? static_cast<unsigned char>(pw[j]) : 0;
    if (++j > pw.size()) j = 0;
  }
  std::vector<unsigned char> key;
  for (;;) {
    unsigned char d[64 + 128];
    std::memset(d, 1, 64);
    std::memcpy(d + 64, buf_i, 128);
    unsigned char hash[20];
    EVP_Digest(d, sizeof d, hash, nullptr, EVP_sha1(), nullptr);
    for (int i = 1; i < iter; ++i) EVP_Digest(hash, 20, hash, nullptr, EVP_sha1(), nullptr);
    for (int i = 0; i < 20 && key.size() < keylen; ++i) key.push_back(hash[i]);
    if (key.size() == keylen) return key;
    unsigned char buf_b[64];
    for (int i = 0; i < 64; ++i) buf_b[i] = hash[i % 20];
    BIGNUM* b1 = BN_bin2bn(buf_b, 64, nullptr);
    BN_add_word(b1, 1);
    for (int i = 0; i < 128; i += 64) {
      BIGNUM* ij = BN_bin2bn(buf_i + i, 64, nullptr);
      BN_add(ij, ij, b1);
      BN_mask_bits(ij, 64 * 8);
      BN_bn2bin(ij, buf_i + i);  // like gcry_mpi_print: only the significant bytes
      BN_free(ij);
    }
    BN_free(b1);
  }
}

std::vector<unsigned char> rfc7292_key(const std::vector<unsigned char>& salt, int iter,
                                       const std::string& pw, std::size_t keylen) {
  std::vector<unsigned char> key(keylen);
  EXPECT_EQ(
      PKCS12_key_gen_utf8(pw.c_str(), static_cast<int>(pw.size()),
                          const_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          PKCS12_KEY_ID, iter, static_cast<int>(keylen), key.data(), EVP_sha1()),
      1);
  return key;
}

TEST(Pkcs12Gpgsm, JudgeAgreesWithAModelOfGpgsmOverManySalts) {
  auto password = bmp(kPass);
  int refused = 0;
  for (int n = 0; n < 3000; ++n) {
    std::vector<unsigned char> salt(8);
    ASSERT_EQ(RAND_bytes(salt.data(), 8), 1);
    bool same = gpgsm_model_key(salt, 1, kPass, 24) == rfc7292_key(salt, 1, kPass, 24);
    ASSERT_EQ(gpgsm22_derives_same_key(salt, 1, password, 24), same) << "salt draw " << n;
    refused += same ? 0 : 1;
  }
  // Both outcomes were exercised: about 2 salts in 256 make gpgsm 2.2 derive a wrong key.
  EXPECT_GT(refused, 5);
  EXPECT_LT(refused, 100);
}

// The IV (8 bytes) and the MAC key (20) need one SHA-1 round, so gpgsm's write-back is
// never reached: its model and RFC 7292 agree for every salt, and so does the judge.
TEST(Pkcs12Gpgsm, KeysOfOneRoundAlwaysAgree) {
  std::vector<unsigned char> salt(8, 0);
  auto password = bmp(kPass);
  for (int n = 0; n < 500; ++n) {
    ASSERT_EQ(RAND_bytes(salt.data(), 8), 1);
    for (std::size_t len : {8u, 20u}) {
      ASSERT_EQ(gpgsm_model_key(salt, 1, kPass, len), rfc7292_key(salt, 1, kPass, len));
      EXPECT_TRUE(gpgsm22_derives_same_key(salt, 2048, password, len));
    }
  }
}

TEST(Pkcs12Gpgsm, JudgesEverySaltOfAFile) {
  auto id = testing::make_identity("gina@example.org");
  int judged_bad = 0;
  for (int n = 0; n < 400 && judged_bad == 0; ++n) {
    PKCS12* p12 = PKCS12_create(kPass.c_str(), "gina", id.key.get(), id.cert.get(), nullptr,
                                NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                                NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 1, 1, 0);
    ASSERT_NE(p12, nullptr);
    auto r = gpgsm22_can_decrypt(*p12, kPass);
    PKCS12_free(p12);
    ASSERT_TRUE(r) << r.error();
    judged_bad += r.value() ? 0 : 1;
  }
  // With two 3DES salts per file about 1 file in 64 is refused; 400 files without a
  // refusal would mean the file walk never reaches the salts.
  EXPECT_EQ(judged_bad, 1);
}

TEST(Pkcs12Gpgsm, AesFilesAreNotJudged) {
  auto id = testing::make_identity("gina@example.org");
  PKCS12* p12 =
      PKCS12_create(kPass.c_str(), "gina", id.key.get(), id.cert.get(), nullptr, 0, 0, 0, 0, 0);
  ASSERT_NE(p12, nullptr);
  auto r = gpgsm22_can_decrypt(*p12, kPass);
  PKCS12_free(p12);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r.value());
}

}  // namespace
}  // namespace mailseal::keys
