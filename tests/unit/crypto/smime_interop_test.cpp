// Interop of smime:: with the real tools, both ways: `openssl cms` (RSA and EC P-256,
// AES-256-CBC and -GCM, OAEP) and Debian's gpgsm 2.2 (RSA only, CBC, legacy PKCS#12).
// Each test works in its own temp dir (and GNUPGHOME, whose agent is stopped at the end).
#include <gtest/gtest.h>

#include "crypto/smime/smime.h"
#include "test_pki.h"

namespace mailseal::crypto::smime {
namespace {

using testpki::Alg;
using testpki::Identity;
using testpki::mem_bio;
using testpki::read_file;
using testpki::run;
using testpki::write_file;

const std::string kContent =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nInterop line one\r\nline two\r\n";

class Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testpki::have_tool("openssl")) GTEST_SKIP() << "openssl CLI missing";
    write_file(dir / "ca.pem", testpki::cert_pem(ca.cert.get()));
    write_file(dir / "msg.txt", kContent);
  }
  // Writes NAME.pem and NAME.key for an identity.
  void save(const std::string& name, const Identity& id) {
    write_file(dir / (name + ".pem"), testpki::cert_pem(id.cert.get()));
    write_file(dir / (name + ".key"), testpki::key_pem(id.key.get()));
  }
  std::string p(const std::string& name) const { return (dir / name).string(); }
  VerifyContext ctx() { return VerifyContext{store.get(), {}, std::nullopt, {}}; }

  testpki::TempDir dir;
  Identity ca = testpki::make_ca("Interop CA");
  X509StorePtr store = make_store({ca.cert.get()});
};

std::string der_of(const std::string& path) {
  return read_file(path);
}

TEST_F(Interop, OpensslMadeMessagesOpenInMailseal) {
  for (Alg alg : {Alg::rsa, Alg::ec}) {
    Identity alice = testpki::make_leaf(ca, {"alice@example.org", alg});
    Identity bob = testpki::make_leaf(ca, {"bob@example.net", alg, -1, 365, "emailProtection", 3});
    save("alice", alice);
    save("bob", bob);
    ASSERT_EQ(
        run("openssl cms -sign -binary -md sha256 -in " + p("msg.txt") + " -signer " +
            p("alice.pem") + " -inkey " + p("alice.key") + " -outform DER -out " + p("d.der")),
        0);
    CmsPtr sig = parse_cms(mem_bio(der_of(p("d.der"))).get()).cms;
    ASSERT_TRUE(sig);
    Verdict v = verify_detached(mem_bio(kContent).get(), sig.get(), ctx());
    EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
    EXPECT_EQ(v.signer_emails[0], "alice@example.org");

    ASSERT_EQ(
        run("openssl cms -sign -nodetach -binary -in " + p("msg.txt") + " -signer " +
            p("alice.pem") + " -inkey " + p("alice.key") + " -outform DER -out " + p("o.der")),
        0);
    CmsPtr opaque = parse_cms(mem_bio(der_of(p("o.der"))).get()).cms;
    BioPtr out(BIO_new(BIO_s_mem()));
    EXPECT_EQ(verify_opaque(opaque.get(), out.get(), ctx()).status, VerdictStatus::valid);
    EXPECT_EQ(testpki::bio_string(out.get()), kContent);

    for (const char* cipher : {"-aes-256-cbc", "-aes-256-gcm"}) {
      ASSERT_EQ(run("openssl cms -encrypt -binary " + std::string(cipher) + " -in " + p("msg.txt") +
                    " -outform DER -out " + p("e.der") + " " + p("bob.pem")),
                0)
          << cipher;
      ParsedCms enc = parse_cms(mem_bio(der_of(p("e.der"))).get());
      ASSERT_TRUE(enc.status.ok());
      BioPtr plain(BIO_new(BIO_s_mem()));
      DecryptResult r = decrypt(enc.cms.get(), plain.get(), {{bob.cert.get(), bob.key.get()}});
      EXPECT_TRUE(r.status.ok()) << cipher << " " << r.status.reason;
      EXPECT_EQ(testpki::bio_string(plain.get()), kContent) << cipher;
    }
  }
}

TEST_F(Interop, MailsealMadeMessagesOpenInOpenssl) {
  for (Alg alg : {Alg::rsa, Alg::ec}) {
    Identity alice = testpki::make_leaf(ca, {"alice@example.org", alg});
    Identity bob = testpki::make_leaf(ca, {"bob@example.net", alg, -1, 365, "emailProtection", 3});
    save("bob", bob);
    BioPtr sig(BIO_new(BIO_s_mem()));
    ASSERT_TRUE(
        sign(mem_bio(kContent).get(), sig.get(), {alice.cert.get(), alice.key.get(), {}}).ok());
    write_file(dir / "d.der", testpki::bio_string(sig.get()));
    EXPECT_EQ(run("openssl cms -verify -binary -purpose smimesign -inform DER -in " + p("d.der") +
                  " -content " + p("msg.txt") + " -CAfile " + p("ca.pem") + " -out /dev/null"),
              0);
    // A changed content must fail in openssl too (the test would catch a no-op verify).
    write_file(dir / "other.txt", kContent + "x");
    EXPECT_NE(run("openssl cms -verify -binary -inform DER -in " + p("d.der") + " -content " +
                  p("other.txt") + " -CAfile " + p("ca.pem") + " -out /dev/null"),
              0);

    for (Cipher c : {Cipher::aes256_cbc, Cipher::aes256_gcm}) {
      for (bool oaep : {false, true}) {
        BioPtr enc(BIO_new(BIO_s_mem()));
        ASSERT_TRUE(encrypt(mem_bio(kContent).get(), enc.get(), {bob.cert.get()}, {c, oaep}).ok());
        write_file(dir / "e.der", testpki::bio_string(enc.get()));
        std::filesystem::remove(dir / "out.txt");
        EXPECT_EQ(run("openssl cms -decrypt -binary -inform DER -in " + p("e.der") + " -recip " +
                      p("bob.pem") + " -inkey " + p("bob.key") + " -out " + p("out.txt")),
                  0);
        EXPECT_EQ(read_file(dir / "out.txt"), kContent) << static_cast<int>(c) << oaep;
      }
    }
  }
}

class GpgsmInterop : public Interop {
 protected:
  void SetUp() override {
    Interop::SetUp();
    if (IsSkipped()) return;
    if (!testpki::have_tool("gpgsm")) GTEST_SKIP() << "gpgsm missing";
    home = dir / "gnupg";
    std::filesystem::create_directory(home);
    std::filesystem::permissions(home, std::filesystem::perms::owner_all);
    write_file(home / "gpg-agent.conf", "allow-loopback-pinentry\n");
    write_file(home / "gpgsm.conf", "disable-crl-checks\ndisable-dirmngr\n");
    bob = testpki::make_leaf(ca, {"bob@example.net", Alg::rsa, -1, 365, "emailProtection", 3});
    save("bob", bob);
    // gpgsm 2.2 derives a wrong 3DES key from about 1 PKCS#12 salt in 128
    // (src/keys/pkcs12_gpgsm.h): a file it cannot open is made again with new salts.
    int imported = -1;
    for (int attempt = 0; attempt < 8 && imported != 0; ++attempt) {
      ASSERT_EQ(
          run("openssl pkcs12 -export -legacy -in " + p("bob.pem") + " -inkey " + p("bob.key") +
              " -certfile " + p("ca.pem") + " -out " + p("bob.p12") + " -passout pass:test"),
          0);
      imported = gpgsm("--import " + p("bob.p12"));
    }
    ASSERT_EQ(imported, 0);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(ca.cert.get(), EVP_sha1(), md, &len);
    std::string fpr;
    char hex[3];
    for (unsigned i = 0; i < len; ++i) {
      snprintf(hex, sizeof hex, "%02X", md[i]);
      fpr += hex;
    }
    write_file(home / "trustlist.txt", fpr + " S\n");
  }
  void TearDown() override {
    if (!home.empty()) run("GNUPGHOME=" + home.string() + " gpgconf --kill gpg-agent");
  }
  int gpgsm(const std::string& args) {
    return run("echo test | GNUPGHOME=" + home.string() +
               " gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 " + args);
  }
  std::filesystem::path home;
  Identity bob;
};

TEST_F(GpgsmInterop, BothWaysWithRsa) {
  // gpgsm -> mailseal: encrypted, opaque signed, detached signed.
  ASSERT_EQ(gpgsm("--encrypt -r bob@example.net -o " + p("e.der") + " " + p("msg.txt")), 0);
  ParsedCms enc = parse_cms(mem_bio(der_of(p("e.der"))).get());
  ASSERT_TRUE(enc.status.ok()) << enc.status.reason;
  BioPtr plain(BIO_new(BIO_s_mem()));
  EXPECT_TRUE(decrypt(enc.cms.get(), plain.get(), {{bob.cert.get(), bob.key.get()}}).status.ok());
  EXPECT_EQ(testpki::bio_string(plain.get()), kContent);

  ASSERT_EQ(gpgsm("-u bob@example.net --include-certs -1 --detach-sign -o " + p("d.der") + " " +
                  p("msg.txt")),
            0);
  CmsPtr sig = parse_cms(mem_bio(der_of(p("d.der"))).get()).cms;
  ASSERT_TRUE(sig);
  Verdict v = verify_detached(mem_bio(kContent).get(), sig.get(), ctx());
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_EQ(verify_detached(mem_bio(kContent + " ").get(), sig.get(), ctx()).status,
            VerdictStatus::bad_signature);

  // mailseal -> gpgsm: detached signature verifies, CBC enveloped data decrypts.
  Identity alice = testpki::make_leaf(ca, {"alice@example.org", Alg::rsa});
  BioPtr msig(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(
      sign(mem_bio(kContent).get(), msig.get(), {alice.cert.get(), alice.key.get(), {}}).ok());
  write_file(dir / "m.der", testpki::bio_string(msig.get()));
  EXPECT_EQ(gpgsm("--verify " + p("m.der") + " " + p("msg.txt")), 0);
  write_file(dir / "other.txt", "tampered");
  EXPECT_NE(gpgsm("--verify " + p("m.der") + " " + p("other.txt")), 0);

  BioPtr menc(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(encrypt(mem_bio(kContent).get(), menc.get(), {bob.cert.get()}).ok());
  write_file(dir / "me.der", testpki::bio_string(menc.get()));
  EXPECT_EQ(gpgsm("--decrypt -o " + p("out.txt") + " " + p("me.der")), 0);
  EXPECT_EQ(read_file(dir / "out.txt"), kContent);
}

}  // namespace
}  // namespace mailseal::crypto::smime
