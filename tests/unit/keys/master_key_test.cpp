// MasterKey: file creation mode and exclusivity, refusal of readable files, and AES-GCM
// blobs that fail on tampering or when moved to another record.

#include "keys/master_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "keys_test_util.h"

namespace mailseal::keys {
namespace {

using testing::TempDir;

TEST(MasterKey, CreateWritesMode0600AndRefusesOverwrite) {
  TempDir dir;
  auto file = dir.path() / "master.key";
  auto k = MasterKey::create(file);
  ASSERT_TRUE(k) << k.error();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  auto again = MasterKey::create(file);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().find("already exists"), std::string::npos);
  auto loaded = MasterKey::load(file);
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->id(), k->id());
}

TEST(MasterKey, RefusesGroupOrWorldReadableFile) {
  TempDir dir;
  auto file = dir.path() / "master.key";
  ASSERT_TRUE(MasterKey::create(file));
  for (mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    auto k = MasterKey::load(file);
    ASSERT_FALSE(k) << std::oct << mode;
    EXPECT_NE(k.error().find("group or others"), std::string::npos);
  }
}

TEST(MasterKey, RefusesWrongSizeAndSymlink) {
  TempDir dir;
  auto file = dir.path() / "short.key";
  { std::ofstream(file) << "short"; }
  ::chmod(file.c_str(), 0600);
  EXPECT_FALSE(MasterKey::load(file));
  auto real = dir.path() / "real.key";
  ASSERT_TRUE(MasterKey::create(real));
  std::filesystem::create_symlink(real, dir.path() / "link.key");
  EXPECT_FALSE(MasterKey::load(dir.path() / "link.key"));
}

TEST(MasterKey, SealOpenRoundTrip) {
  auto k = MasterKey::generate().value();
  auto aad = record_aad("secret-key", "alice@example.org", "ab12");
  auto blob = k.seal("secret bytes", aad);
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->find("secret bytes"), std::string::npos);
  auto plain = k.open(blob.value(), aad);
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->view(), "secret bytes");
  // Two seals of the same data differ (random nonce).
  EXPECT_NE(k.seal("secret bytes", aad).value(), blob.value());
}

TEST(MasterKey, TamperedBlobRefused) {
  auto k = MasterKey::generate().value();
  auto aad = record_aad("secret-key", "alice@example.org", "ab12");
  auto blob = k.seal("secret bytes", aad).value();
  for (std::size_t i = 0; i < blob.size(); ++i) {
    auto bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(k.open(bad, aad)) << "flipped byte " << i;
  }
  EXPECT_FALSE(k.open(blob.substr(0, blob.size() - 1), aad));
  EXPECT_FALSE(k.open("", aad));
}

TEST(MasterKey, BlobBoundToRecordAndKey) {
  auto k = MasterKey::generate().value();
  auto blob = k.seal("secret", record_aad("secret-key", "alice@example.org", "ab12")).value();
  EXPECT_FALSE(k.open(blob, record_aad("secret-key", "bob@example.org", "ab12")));
  EXPECT_FALSE(k.open(blob, record_aad("secret-key", "alice@example.org", "cd34")));
  EXPECT_FALSE(k.open(blob, record_aad("internal-ca", "alice@example.org", "ab12")));
  auto other = MasterKey::generate().value();
  EXPECT_FALSE(other.open(blob, record_aad("secret-key", "alice@example.org", "ab12")));
  EXPECT_NE(other.id(), k.id());
}

TEST(RecordAad, LengthPrefixedFieldsDoNotCollide) {
  EXPECT_NE(record_aad("p", "ab", "c"), record_aad("p", "a", "bc"));
}

// A stand-in for the token: software AES-GCM under a key only it knows (the real one,
// TokenKek, is tested against SoftHSM2 in tests/integration/test_token_kek.py).
class SoftwareWrapper : public KeyWrapper {
 public:
  SoftwareWrapper() : key_(MasterKey::generate().value()) {}
  std::string describe() const override { return "the test wrapper"; }
  Result<std::string> wrap(const SecretBytes& plain, std::string_view aad) override {
    ++calls;
    return key_.seal(plain.view(), aad);
  }
  Result<SecretBytes> unwrap(std::string_view blob, std::string_view aad) override {
    ++calls;
    return key_.open(blob, aad);
  }
  int calls = 0;

 private:
  MasterKey key_;
};

TEST(MasterKey, WrappedFileOpensOnlyThroughItsWrapper) {
  TempDir dir;
  auto file = dir.path() / "master.key";
  auto k = MasterKey::generate();
  ASSERT_TRUE(k);
  SoftwareWrapper kek;
  ASSERT_TRUE(k->write_new(file, &kek));
  EXPECT_TRUE(MasterKey::is_wrapped(file).value());
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.rfind("MSWRAPK1", 0), 0u);

  auto without = MasterKey::load(file);
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().find("wrapped by a key in a PKCS#11 token"), std::string::npos);
  auto with = MasterKey::load(file, &kek);
  ASSERT_TRUE(with) << with.error();
  EXPECT_EQ(with->id(), k->id());

  SoftwareWrapper other;  // another token's key
  auto wrong = MasterKey::load(file, &other);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().find("cannot unwrap"), std::string::npos);

  // A plain file needs no wrapper and does not call one.
  auto plain_file = dir.path() / "plain.key";
  ASSERT_TRUE(k->write_new(plain_file));
  EXPECT_FALSE(MasterKey::is_wrapped(plain_file).value());
  int before = kek.calls;
  auto plain = MasterKey::load(plain_file, &kek);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->id(), k->id());
  EXPECT_EQ(kek.calls, before);
}

}  // namespace
}  // namespace mailseal::keys
