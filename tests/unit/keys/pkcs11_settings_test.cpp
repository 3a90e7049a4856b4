// read_pin_file: the permission rules (0600 owner-only, regular file, not a symlink),
// newline handling, and that errors never quote the PIN. trim_label: PKCS#11 padding.
#include "keys/pkcs11_settings.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "keys_test_util.h"

namespace mailseal::keys {
namespace {

using testing::TempDir;

std::filesystem::path write_pin(const TempDir& d, const std::string& name, const std::string& text,
                                mode_t mode) {
  auto p = d.path() / name;
  std::ofstream(p, std::ios::binary) << text;
  ::chmod(p.c_str(), mode);
  return p;
}

TEST(Pkcs11PinFile, ReadsPinAndDropsOneTrailingNewline) {
  TempDir d;
  EXPECT_EQ(read_pin_file(write_pin(d, "a", "1234\n", 0600)).value().view(), "1234");
  EXPECT_EQ(read_pin_file(write_pin(d, "b", "1234\r\n", 0400)).value().view(), "1234");
  EXPECT_EQ(read_pin_file(write_pin(d, "c", "12 34", 0600)).value().view(), "12 34");
  EXPECT_EQ(read_pin_file(write_pin(d, "d", "1234\n\n", 0600)).value().view(), "1234\n");
}

TEST(Pkcs11PinFile, RefusesFilesOthersMayRead) {
  TempDir d;
  for (mode_t m : {0640, 0604, 0660, 0644, 0602}) {
    auto r = read_pin_file(write_pin(d, "p" + std::to_string(m), "secret-pin", m));
    ASSERT_FALSE(r) << std::oct << m;
    EXPECT_NE(r.error().find("group or others"), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("secret-pin"), std::string::npos) << "error quotes the PIN";
  }
}

TEST(Pkcs11PinFile, RefusesEmptyMissingDirectoryAndSymlink) {
  TempDir d;
  EXPECT_FALSE(read_pin_file(write_pin(d, "empty", "", 0600)));
  EXPECT_FALSE(read_pin_file(write_pin(d, "nl", "\n", 0600)));
  EXPECT_FALSE(read_pin_file(d.path() / "missing"));
  EXPECT_FALSE(read_pin_file(""));
  ::chmod(d.path().c_str(), 0700);
  EXPECT_FALSE(read_pin_file(d.path()));
  auto target = write_pin(d, "real", "1234", 0600);
  std::filesystem::create_symlink(target, d.path() / "link");
  EXPECT_FALSE(read_pin_file(d.path() / "link"));
}

TEST(Pkcs11PinFile, RefusesHugeFiles) {
  TempDir d;
  EXPECT_FALSE(read_pin_file(write_pin(d, "big", std::string(4096, '1'), 0600)));
}

TEST(Pkcs11Label, TrimsPaddingOnly) {
  char field[32];
  std::memset(field, ' ', sizeof field);
  std::memcpy(field, "mail seal", 9);
  EXPECT_EQ(trim_label(field, sizeof field), "mail seal");
  std::memset(field, ' ', sizeof field);
  EXPECT_EQ(trim_label(field, sizeof field), "");
  EXPECT_EQ(trim_label("abc\0zzz", 7), "abc");
}

}  // namespace
}  // namespace mailseal::keys
