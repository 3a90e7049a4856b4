// Interop with GnuPG 2.2 (real gpg in a private GNUPGHOME): mailseal's sealed messages
// and detached signatures are read by gpg; gpg's sign+encrypt (RSA-2048, Ed25519/
// Cv25519), signed-only, clearsigned and detached messages are opened by mailseal; gpg's
// passphrase-protected secret keys import; a message without MDC (gpg --rfc2440) and
// tampered gpg ciphertext are refused; an expired gpg key (made with faketime) is unused.
#include "openpgp/generate.h"
#include "openpgp/open.h"
#include "openpgp/seal.h"
#include "test_support.h"

namespace mailseal::openpgp {
namespace {

using testing::read_file;
using testing::Scratch;
using testing::write_file;

class GpgInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_tool("gpg")) GTEST_SKIP() << "gpg not installed";
    ring = std::move(Keyring::create().value());
    auto a = generate_key(ring, "alice@example.org", {.name = "Alice"});
    ASSERT_TRUE(a.ok()) << a.error().reason;
    alice = a->fingerprint();
    write_file(s.path("alice.asc"), ring.export_public(alice, true).value());
    ASSERT_EQ(s.gpg("--import " + s.q("alice.asc")), 0) << s.log();
  }

  // A gpg key pair: primary (sign,cert) + encryption subkey; returns its fingerprint.
  std::string gpg_key(const std::string& address, const std::string& algo,
                      const std::string& enc_algo, const std::string& passphrase = "",
                      const std::string& faketime = "", const std::string& expire = "never") {
    std::string pre = faketime.empty() ? "" : "--faked-system-time " + faketime + " ";
    std::string pass = "--passphrase '" + passphrase + "' ";
    EXPECT_EQ(
        s.gpg(pre + pass + "--quick-gen-key '<" + address + ">' " + algo + " sign,cert " + expire),
        0)
        << s.log();
    std::string fpr = s.gpg_fingerprint(address);
    EXPECT_EQ(s.gpg(pre + pass + "--quick-add-key " + fpr + " " + enc_algo + " encr " + expire), 0)
        << s.log();
    return fpr;
  }

  // Imports a gpg public (or secret) key into the mailseal keyring.
  void import_from_gpg(const std::string& fpr, bool secret, const std::string& passphrase = "") {
    std::string cmd =
        secret ? "--passphrase '" + passphrase + "' --export-secret-keys " : "--export ";
    ASSERT_EQ(s.gpg_to(cmd + fpr, "export.pgp"), 0) << s.log();
    auto r = ring.import_keys(read_file(s.path("export.pgp")), passphrase);
    ASSERT_TRUE(r.ok()) << r.error().reason;
  }

  // Seals to the gpg key and lets gpg decrypt and verify.
  void gpg_reads_mailseal(const std::string& bob) {
    std::string message = testing::sample_mime();
    std::string sealed;
    ASSERT_TRUE(seal(ring, message, sealed, {bob}, alice).ok());
    write_file(s.path("sealed.asc"), sealed);
    ASSERT_EQ(s.gpg("--status-file " + s.q("status") + " -o " + s.q("plain") + " --decrypt " +
                    s.q("sealed.asc")),
              0)
        << s.log();
    EXPECT_EQ(read_file(s.path("plain")), message);
    std::string status = read_file(s.path("status"));
    EXPECT_NE(status.find("DECRYPTION_OKAY"), std::string::npos) << status;
    EXPECT_NE(status.find("GOODMDC"), std::string::npos) << status;
    EXPECT_NE(status.find("GOODSIG"), std::string::npos) << status;
    EXPECT_NE(status.find("VALIDSIG " + alice), std::string::npos) << status;
    EXPECT_EQ(status.find("BADSIG"), std::string::npos) << status;
  }

  // gpg signs and encrypts to the mailseal key; mailseal opens it.
  void mailseal_reads_gpg(const std::string& signer_address, const std::string& signer) {
    auto bob = generate_key(ring, "bob@example.com");
    ASSERT_TRUE(bob.ok());
    write_file(s.path("bob.asc"), ring.export_public(bob->fingerprint(), true).value());
    ASSERT_EQ(s.gpg("--import " + s.q("bob.asc")), 0);
    std::string message = testing::sample_mime("gpg to mailseal\r\n");
    write_file(s.path("msg"), message);
    ASSERT_EQ(
        s.gpg("--trust-model always --armor --local-user " + signer + " -r " + bob->fingerprint() +
              " -o " + s.q("msg.asc") + " --sign --encrypt " + s.q("msg")),
        0)
        << s.log();
    std::string plain;
    Verdict v = open(ring, read_file(s.path("msg.asc")), plain);
    EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
    EXPECT_TRUE(v.encrypted);
    EXPECT_EQ(v.protection, "cfb-mdc");
    EXPECT_EQ(plain, message);
    EXPECT_EQ(v.signer_fingerprint, signer);
    EXPECT_TRUE(v.signed_by(signer_address));
    EXPECT_FALSE(v.signed_by("alice@example.org")) << "real signer is shown, not a claim";
  }

  Scratch s;
  Keyring ring = std::move(Keyring::create().value());
  std::string alice;
};

TEST_F(GpgInterop, GpgDecryptsAndVerifiesMailsealEd25519ToRsa) {
  std::string bob = gpg_key("bob@example.com", "rsa2048", "rsa2048");
  import_from_gpg(bob, false);
  gpg_reads_mailseal(bob);
}

TEST_F(GpgInterop, GpgDecryptsAndVerifiesMailsealToCv25519) {
  std::string bob = gpg_key("bob@example.com", "ed25519", "cv25519");
  import_from_gpg(bob, false);
  gpg_reads_mailseal(bob);
}

TEST_F(GpgInterop, GpgVerifiesMailsealDetachedSignature) {
  std::string entity = testing::sample_mime("signed only \r\n");  // trailing space kept
  std::string sig;
  ASSERT_TRUE(sign_detached(ring, entity, sig, alice).ok());
  write_file(s.path("entity"), entity);
  write_file(s.path("entity.sig"), sig);
  ASSERT_EQ(s.gpg("--status-file " + s.q("status") + " --verify " + s.q("entity.sig") + " " +
                  s.q("entity")),
            0)
      << s.log();
  EXPECT_NE(read_file(s.path("status")).find("VALIDSIG " + alice), std::string::npos);
}

TEST_F(GpgInterop, MailsealOpensGpgSignEncryptRsa2048) {
  std::string gina = gpg_key("gina@example.net", "rsa2048", "rsa2048");
  import_from_gpg(gina, false);
  mailseal_reads_gpg("gina@example.net", gina);
}

TEST_F(GpgInterop, MailsealOpensGpgSignEncryptEd25519) {
  std::string gina = gpg_key("gina@example.net", "ed25519", "cv25519");
  import_from_gpg(gina, false);
  mailseal_reads_gpg("gina@example.net", gina);
}

TEST_F(GpgInterop, MailsealVerifiesGpgSignedClearsignedAndDetached) {
  std::string gina = gpg_key("gina@example.net", "ed25519", "cv25519");
  import_from_gpg(gina, false);
  std::string text = "Line one\r\nLine two\r\n";
  write_file(s.path("text"), text);
  ASSERT_EQ(s.gpg("--armor -u " + gina + " -o " + s.q("signed.asc") + " --sign " + s.q("text")), 0);
  ASSERT_EQ(s.gpg("-u " + gina + " -o " + s.q("clear.asc") + " --clearsign " + s.q("text")), 0);
  ASSERT_EQ(s.gpg("--armor -u " + gina + " -o " + s.q("det.asc") + " --detach-sign " + s.q("text")),
            0);

  std::string plain;
  Verdict v = open(ring, read_file(s.path("signed.asc")), plain);
  EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
  EXPECT_FALSE(v.encrypted);
  EXPECT_EQ(plain, text);

  std::string clear = read_file(s.path("clear.asc"));
  ASSERT_EQ(clear.rfind("-----BEGIN PGP SIGNED MESSAGE-----", 0), 0u);
  plain.clear();
  Verdict c = open(ring, clear, plain);
  EXPECT_EQ(c.status, VerdictStatus::valid) << c.reason;
  EXPECT_TRUE(c.signed_by("gina@example.net"));
  EXPECT_NE(plain.find("Line two"), std::string::npos);

  // A cleartext-signed message with one word changed.
  std::string forged = clear;
  forged.replace(forged.find("Line two"), 8, "Line 2!!");
  plain.clear();
  EXPECT_EQ(open(ring, forged, plain).status, VerdictStatus::bad_signature);

  Verdict d = verify_detached(ring, text, read_file(s.path("det.asc")));
  EXPECT_EQ(d.status, VerdictStatus::valid) << d.reason;
  EXPECT_EQ(d.signer_fingerprint, gina);
}

TEST_F(GpgInterop, ImportsProtectedGpgSecretKeyAndDecrypts) {
  std::string dora = gpg_key("dora@example.org", "ed25519", "cv25519", "s3cret pass");
  auto staged = Keyring::create();
  ASSERT_EQ(s.gpg_to("--passphrase 's3cret pass' --export-secret-keys " + dora, "dora.sec"), 0);
  std::string sec = read_file(s.path("dora.sec"));
  EXPECT_EQ(staged->import_keys(sec).error().kind, ErrorKind::wrong_passphrase);
  EXPECT_EQ(staged->import_keys(sec, "wrong").error().kind, ErrorKind::wrong_passphrase);
  import_from_gpg(dora, true, "s3cret pass");
  auto info = ring.info(dora);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->has_secret());
  EXPECT_TRUE(ring.key_for_address("dora@example.org", Usage::sign).ok());

  write_file(s.path("m"), "for dora");
  ASSERT_EQ(s.gpg("--trust-model always -r " + dora + " -u " + alice.substr(24) + " -o " +
                  s.q("m.gpg") + " --encrypt " + s.q("m")),
            0)
      << s.log();
  std::string plain;
  Verdict v = open(ring, read_file(s.path("m.gpg")), plain);
  EXPECT_EQ(v.status, VerdictStatus::no_signature) << v.reason;
  EXPECT_EQ(plain, "for dora");
}

// gpg 2.2 ignores --disable-mdc, but --rfc2440 still writes a Symmetrically Encrypted
// Data packet (tag 9, no MDC) - see tests/fixtures/openpgp/README.md.
TEST_F(GpgInterop, MessageWithoutMdcIsRefused) {
  auto bob = generate_key(ring, "bob@example.com");
  ASSERT_TRUE(bob.ok());
  write_file(s.path("bob.asc"), ring.export_public(bob->fingerprint(), true).value());
  std::string gina = gpg_key("gina@example.net", "rsa2048", "rsa2048");
  import_from_gpg(gina, false);
  ASSERT_EQ(s.gpg("--import " + s.q("bob.asc")), 0);
  write_file(s.path("m"), "no integrity here");
  for (std::string cipher : {"AES256", "CAST5"}) {
    ASSERT_EQ(
        s.gpg("--rfc2440 --cipher-algo " + cipher + " --trust-model always -u " + gina + " -r " +
              bob->fingerprint() + " -o " + s.q("m.gpg") + " --sign --encrypt " + s.q("m")),
        0)
        << s.log();
    // gpg itself exits 2 here: it refuses to decrypt without MDC. The packets are listed.
    (void)s.gpg_to("--list-packets " + s.q("m.gpg"), "packets");
    std::string packets = read_file(s.path("packets"));
    ASSERT_NE(packets.find(":encrypted data packet:"), std::string::npos) << packets;
    ASSERT_EQ(packets.find("mdc_method"), std::string::npos) << "gpg wrote an MDC: " << packets;
    std::string plain;
    Verdict v = open(ring, read_file(s.path("m.gpg")), plain);
    EXPECT_EQ(v.status, VerdictStatus::integrity_failure) << cipher << ": " << v.reason;
    EXPECT_TRUE(v.falsified());
    EXPECT_EQ(v.protection, "cfb") << v.reason;  // RNP decrypts it and reports "no MDC"
  }
}

TEST_F(GpgInterop, TamperedGpgMessageIsNeverValid) {
  auto bob = generate_key(ring, "bob@example.com");
  ASSERT_TRUE(bob.ok());
  write_file(s.path("bob.asc"), ring.export_public(bob->fingerprint(), true).value());
  ASSERT_EQ(s.gpg("--import " + s.q("bob.asc")), 0);
  write_file(s.path("m"), std::string(2000, 'z'));
  ASSERT_EQ(s.gpg("--trust-model always -u " + alice.substr(24) + " -r " + bob->fingerprint() +
                  " --compress-algo none -o " + s.q("m.gpg") + " --encrypt " + s.q("m")),
            0)
      << s.log();
  std::string good = read_file(s.path("m.gpg"));
  std::string plain;
  ASSERT_EQ(open(ring, good, plain).status, VerdictStatus::no_signature);
  for (std::size_t pos = good.size() / 2; pos < good.size(); pos += 101) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x04);
    plain.clear();
    Verdict v = open(ring, bad, plain);
    EXPECT_EQ(v.status, VerdictStatus::integrity_failure) << pos << ": " << v.reason;
  }
}

// An expired gpg key: made ten days in the past with gpg --faked-system-time and a
// one-day expiry. It imports, is listed as expired and is not used for encryption.
TEST_F(GpgInterop, ExpiredGpgKeyIsNotUsedForEncryption) {
  auto now = std::chrono::system_clock::now() - std::chrono::hours(24 * 10);
  auto stamp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::string old =
      gpg_key("old@example.net", "ed25519", "cv25519", "", std::to_string(stamp) + "!", "1d");
  import_from_gpg(old, false);
  auto info = ring.info(old);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->primary.expired);
  auto r = ring.key_for_address("old@example.net", Usage::encrypt);
  EXPECT_EQ(r.error().kind, ErrorKind::unusable_key) << (r.ok() ? "chosen" : r.error().reason);
  std::string out;
  EXPECT_FALSE(seal(ring, "x", out, {old}, alice).ok());
}

}  // namespace
}  // namespace mailseal::openpgp
