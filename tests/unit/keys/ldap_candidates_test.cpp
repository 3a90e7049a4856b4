// Directory values -> usable keys: PKCS#7 certs-only extraction (userSMIMECertificate)
// and the rules a directory's keys must pass (address, CA, dates, OpenPGP user ID and
// encryption key), without a server.
#include "keys/ldap_candidates.h"

#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include <gtest/gtest.h>

#include "keys/pkcs7_certs.h"
#include "keys/x509_util.h"
#include "keys_test_util.h"
#include "openpgp/generate.h"
#include "openpgp/keyring.h"

namespace mailseal::keys {
namespace {

using testing::kNow;
using testing::make_identity;

// A certs-only PKCS#7 SignedData around `certs`, DER.
std::string certs_only(const std::vector<X509*>& certs) {
  PKCS7* p7 = PKCS7_new();
  EXPECT_EQ(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
  EXPECT_EQ(PKCS7_content_new(p7, NID_pkcs7_data), 1);
  for (X509* c : certs) EXPECT_EQ(PKCS7_add_certificate(p7, c), 1);
  unsigned char* der = nullptr;
  int n = i2d_PKCS7(p7, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  PKCS7_free(p7);
  return out;
}

TEST(Pkcs7Certs, ExtractsEveryCertificate) {
  auto a = make_identity("a@partner.example");
  auto b = make_identity("b@partner.example");
  auto certs = pkcs7_certificates(certs_only({a.cert.get(), b.cert.get()}));
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(fingerprint(certs[0].get()), fingerprint(a.cert.get()));
  EXPECT_EQ(fingerprint(certs[1].get()), fingerprint(b.cert.get()));
}

TEST(Pkcs7Certs, PemFormWorks) {
  auto a = make_identity("a@partner.example");
  std::string der = certs_only({a.cert.get()});
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(p7, nullptr);
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PKCS7(bio.get(), p7), 1);
  PKCS7_free(p7);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  auto certs = pkcs7_certificates(std::string(data, static_cast<std::size_t>(n)));
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(fingerprint(certs[0].get()), fingerprint(a.cert.get()));
}

TEST(Pkcs7Certs, RejectsWhatIsNotCertsOnlySignedData) {
  auto a = make_identity("a@partner.example");
  std::string der = certs_only({a.cert.get()});
  EXPECT_TRUE(pkcs7_certificates("").empty());
  EXPECT_TRUE(pkcs7_certificates("garbage that is not DER").empty());
  EXPECT_TRUE(pkcs7_certificates(der.substr(0, der.size() / 2)).empty());  // truncated
  EXPECT_TRUE(pkcs7_certificates(der + "x").empty());                      // trailing bytes
  EXPECT_TRUE(pkcs7_certificates(der_of(a.cert.get())).empty());           // a bare certificate
  // PKCS#7 "data", not SignedData.
  PKCS7* p7 = PKCS7_new();
  ASSERT_EQ(PKCS7_set_type(p7, NID_pkcs7_data), 1);
  unsigned char* raw = nullptr;
  int n = i2d_PKCS7(p7, &raw);
  std::string data(reinterpret_cast<char*>(raw), static_cast<std::size_t>(n));
  OPENSSL_free(raw);
  PKCS7_free(p7);
  EXPECT_TRUE(pkcs7_certificates(data).empty());
}

LdapEntry entry(std::vector<std::pair<std::string, std::string>> values) {
  return LdapEntry{"uid=bob,ou=people,dc=example,dc=org", std::move(values)};
}

TEST(LdapCandidates, OnlyValidCertificatesNamingTheAddressNewestFirst) {
  auto old_valid = make_identity("bob@partner.example", kNow - 10 * 86400);
  auto new_valid = make_identity("bob@partner.example", kNow - 86400);
  auto expired = make_identity("bob@partner.example", kNow - 400 * 86400);
  auto future = make_identity("bob@partner.example", kNow + 86400);
  auto other = make_identity("mallory@partner.example", kNow - 86400);
  auto e = entry({{"usercertificate", der_of(old_valid.cert.get())},
                  {"usercertificate", der_of(expired.cert.get())},
                  {"usercertificate", der_of(other.cert.get())},
                  {"usercertificate", der_of(future.cert.get())},
                  {"usersmimecertificate", certs_only({new_valid.cert.get()})},
                  {"usercertificate", "not a certificate"}});
  auto c = ldap_candidates({e}, "bob@Partner.Example", KeyKind::smime, "pgpKey", kNow);
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0].record.fingerprint, fingerprint(new_valid.cert.get()));
  EXPECT_EQ(c[0].rejected, "");
  EXPECT_EQ(c[0].attribute, "usersmimecertificate");
  EXPECT_EQ(c[0].record.address, "bob@partner.example");
  EXPECT_EQ(c[0].record.source, "ldap");
  ASSERT_TRUE(c[0].record.cert);
  EXPECT_EQ(c[1].record.fingerprint, fingerprint(old_valid.cert.get()));
  EXPECT_EQ(c[1].rejected, "");
  int expired_seen = 0, future_seen = 0, other_seen = 0, garbage_seen = 0;
  for (std::size_t i = 2; i < c.size(); ++i) {
    const auto& r = c[i].rejected;
    EXPECT_FALSE(r.empty());
    expired_seen += r.rfind("expired", 0) == 0;
    future_seen += r.rfind("not valid before", 0) == 0;
    other_seen += r.find("does not name bob@partner.example") != std::string::npos;
    garbage_seen += r.find("does not parse") != std::string::npos;
  }
  EXPECT_EQ(expired_seen + future_seen + other_seen + garbage_seen, 4);
  EXPECT_EQ(expired_seen, 1);
  EXPECT_EQ(future_seen, 1);
  EXPECT_EQ(other_seen, 1);
}

TEST(LdapCandidates, LocalPartIsExactAndDuplicatesCountOnce) {
  auto bob = make_identity("bob@partner.example", kNow - 86400);
  auto e1 = entry({{"usercertificate", der_of(bob.cert.get())},
                   {"usersmimecertificate", certs_only({bob.cert.get()})}});
  auto e2 = entry({{"usercertificate", der_of(bob.cert.get())}});
  auto c = ldap_candidates({e1, e2}, "bob@partner.example", KeyKind::smime, "pgpKey", kNow);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rejected, "");
  // LDAP's mail attribute matches case-insensitively; the local part must not.
  auto upper = ldap_candidates({e1}, "Bob@partner.example", KeyKind::smime, "pgpKey", kNow);
  ASSERT_EQ(upper.size(), 1u);
  EXPECT_NE(upper[0].rejected, "");
}

TEST(LdapCandidates, CaCertificateIsNotAUserKey) {
  auto key = generate_key(KeyAlgorithm::p256).value();
  auto ca = make_ca_certificate(key.get(), "Partner CA", {}, Validity{kNow - 86400, 365}).value();
  auto c = ldap_candidates({entry({{"usercertificate", der_of(ca.get())}})}, "bob@partner.example",
                           KeyKind::smime, "pgpKey", kNow);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rejected, "is a CA certificate");
}

TEST(LdapCandidates, SmimeLookupIgnoresOtherAttributes) {
  auto bob = make_identity("bob@partner.example", kNow - 86400);
  auto c = ldap_candidates({entry({{"pgpkey", der_of(bob.cert.get())}})}, "bob@partner.example",
                           KeyKind::smime, "pgpKey", kNow);
  EXPECT_TRUE(c.empty());
}

std::string openpgp_public(const std::string& address, std::int64_t created) {
  auto ring = openpgp::Keyring::create().value();
  ring.set_time(openpgp::Seconds(std::chrono::seconds(created)));
  auto key = openpgp::generate_key(ring, address).value();
  return ring.export_public(key.fingerprint(), true).value();  // armored, as often stored
}

TEST(LdapCandidates, OpenpgpKeyNeedsTheAddressInAUserId) {
  std::string dave = openpgp_public("dave@partner.example", kNow - 86400);
  std::string eve = openpgp_public("eve@partner.example", kNow - 86400);
  auto e = entry({{"pgpkey", dave}, {"pgpkey", eve}, {"pgpkey", "-----BEGIN nonsense"}});
  auto c = ldap_candidates({e}, "dave@partner.example", KeyKind::openpgp, "pgpKey", kNow);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].rejected, "");
  EXPECT_EQ(c[0].description, "<dave@partner.example>");
  EXPECT_EQ(c[0].record.kind, KeyKind::openpgp);
  EXPECT_FALSE(c[0].record.openpgp.empty());
  EXPECT_EQ(c[0].record.fingerprint.size(), 40u);
  EXPECT_EQ(c[1].rejected, "no valid user ID carries dave@partner.example");
  EXPECT_NE(c[2].rejected.find("does not parse"), std::string::npos);
  // The exported record is binary (what the gateway's keyring imports), not the armor.
  EXPECT_NE(static_cast<unsigned char>(c[0].record.openpgp[0]) & 0x80, 0);
}

TEST(LdapCandidates, ExpiredOpenpgpKeyIsNotUsed) {
  auto ring = openpgp::Keyring::create().value();
  ring.set_time(openpgp::Seconds(std::chrono::seconds(kNow - 10 * 86400)));
  openpgp::GenerateOptions g;
  g.lifetime = std::chrono::seconds(86400);
  auto key = openpgp::generate_key(ring, "dave@partner.example", g).value();
  auto data = ring.export_public(key.fingerprint(), false).value();
  auto c = ldap_candidates({entry({{"pgpkey", data}})}, "dave@partner.example", KeyKind::openpgp,
                           "pgpKey", kNow);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rejected, "");
  // The same key a day after creation is fine: the rule is the clock, not the key.
  auto then = ldap_candidates({entry({{"pgpkey", data}})}, "dave@partner.example", KeyKind::openpgp,
                              "pgpKey", kNow - 10 * 86400 + 3600);
  ASSERT_EQ(then.size(), 1u);
  EXPECT_EQ(then[0].rejected, "");
}

}  // namespace
}  // namespace mailseal::keys
