// Peak memory of sealing and opening a large message (issue 3: 50 MB with less than
// 64 MB above idle). Skipped unless MAILSEAL_MEMORY_TEST=<MiB> is set, since it takes a
// few seconds; run it alone:
//   MAILSEAL_MEMORY_TEST=50 unit_gateway --gtest_filter='LargeMessage.*'
// Peak RSS (VmHWM) is reset through /proc/self/clear_refs before each phase.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "../crypto/test_pki.h"
#include "gateway/smime_open_filter.h"
#include "gateway/smime_seal_filter.h"

namespace mailseal::gateway {
namespace {

using testpki::Identity;

long status_kib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

bool reset_peak() {
  malloc_trim(0);  // freed memory of an earlier phase would hide this phase's peak
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return static_cast<bool>(f);
}

class TwoKeys : public keys::KeySource {
 public:
  const Identity* ca = nullptr;
  std::map<std::string, const Identity*> ids;
  std::string name() const override { return "memory"; }
  std::vector<keys::PublicKeyRecord> find_public(std::string_view a, keys::KeyKind,
                                                 std::optional<keys::SourceError>&) override {
    std::vector<keys::PublicKeyRecord> out;
    if (auto it = ids.find(std::string(a)); it != ids.end()) {
      keys::PublicKeyRecord r;
      r.address = a;
      r.cert = crypto::share(it->second->cert.get());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<keys::SecretKeyRecord> find_secret(std::string_view a, keys::KeyKind,
                                                 std::optional<keys::SourceError>&) override {
    std::vector<keys::SecretKeyRecord> out;
    if (auto it = ids.find(std::string(a)); it != ids.end()) {
      keys::SecretKeyRecord r;
      r.address = a;
      r.cert = crypto::share(it->second->cert.get());
      r.key = crypto::share(it->second->key.get());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<keys::SourceError>&) override {
    std::vector<crypto::X509Ptr> out;
    out.push_back(crypto::share(ca->cert.get()));
    return out;
  }
  std::vector<crypto::X509CrlPtr> crls(std::optional<keys::SourceError>&) override { return {}; }
};

struct Phase {
  long before_kib, peak_kib;
};

template <class Fn>
Phase measure(Fn fn) {
  reset_peak();
  Phase p{status_kib("VmRSS:"), 0};
  fn();
  p.peak_kib = status_kib("VmHWM:");
  return p;
}

TEST(LargeMessage, SealAndOpenStayWithinTheMemoryBudget) {
  const char* env = std::getenv("MAILSEAL_MEMORY_TEST");
  if (!env) GTEST_SKIP() << "set MAILSEAL_MEMORY_TEST=<MiB> to run";
  const std::size_t mib = std::strtoul(env, nullptr, 10);
  if (!reset_peak()) GTEST_SKIP() << "/proc/self/clear_refs not writable";
  Identity ca = testpki::make_ca("Memory CA");
  Identity alice = testpki::make_leaf(ca, {"alice@a.example"});
  Identity bob = testpki::make_leaf(ca, {"bob@b.example"});
  TwoKeys ks;
  ks.ca = &ca;
  ks.ids = {{"alice@a.example", &alice}, {"bob@b.example", &bob}};
  const auto dir = std::filesystem::temp_directory_path();

  core::MessageBody msg(dir);
  msg.append(
      "From: alice@a.example\r\nTo: bob@b.example\r\nSubject: big\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "see attachment\r\n--b\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n");
  std::string line;
  for (int i = 0; i < 76; ++i)
    line.push_back("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(i * 7) % 52]);
  line += "\r\n";
  while (msg.size() < mib * 1024 * 1024) msg.append(line);
  msg.append("--b--\r\n");

  const char* only = std::getenv("MAILSEAL_MEMORY_CASE");  // e.g. "gcm opaque"
  for (auto cipher : {crypto::smime::Cipher::aes256_cbc, crypto::smime::Cipher::aes256_gcm}) {
    for (bool opaque : {false, true}) {
      std::string name = std::string(cipher == crypto::smime::Cipher::aes256_gcm ? "gcm" : "cbc") +
                         (opaque ? " opaque" : " detached");
      if (only && name != only) continue;
      SealOptions so;
      so.cipher = cipher;
      so.opaque_signing = opaque;
      so.spill_dir = dir;
      OpenOptions oo;
      oo.spill_dir = dir;
      core::FilterResult sealed, opened;
      Phase seal = measure([&] {
        SmimeSealFilter f({&ks}, so);
        sealed = f.process(core::Envelope{"alice@a.example", {"bob@b.example"}}, {}, msg, nullptr);
      });
      ASSERT_FALSE(sealed.refusal) << sealed.refusal->brief();
      Phase open = measure([&] {
        SmimeOpenFilter f({&ks}, oo);
        opened = f.process(core::Envelope{"alice@a.example", {"bob@b.example"}}, {},
                           sealed.copies[0].body, nullptr);
      });
      ASSERT_FALSE(opened.refusal) << opened.refusal->brief();
      std::printf("%s: message %zu MiB; seal peak +%ld KiB, open peak +%ld KiB\n", name.c_str(),
                  msg.size() >> 20, seal.peak_kib - seal.before_kib,
                  open.peak_kib - open.before_kib);
      EXPECT_LT(seal.peak_kib - seal.before_kib, 64 * 1024);
      EXPECT_LT(open.peak_kib - open.before_kib, 64 * 1024);
      EXPECT_NE(opened.summary.find("verdict=valid"), std::string::npos) << opened.summary;
    }
  }
}

}  // namespace
}  // namespace mailseal::gateway
