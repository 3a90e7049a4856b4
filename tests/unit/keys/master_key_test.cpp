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

}  // namespace
}  // namespace mailseal::keys
