// Round-trip and tamper tests for smime::sign/verify/encrypt/decrypt with generated
// RSA and EC P-256 keys: each failure cause maps to its documented typed result.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <vector>

#include "crypto/smime/smime.h"
#include "test_pki.h"

namespace mailseal::crypto::smime {
namespace {

using testpki::Alg;
using testpki::Identity;
using testpki::mem_bio;

const std::string kContent =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nsecret plan.\r\n";

struct Pki {
  Identity ca = testpki::make_ca("Test CA");
  Identity other_ca = testpki::make_ca("Other CA");
  Identity alice_rsa = testpki::make_leaf(ca, {"alice@example.org", Alg::rsa});
  Identity alice_ec =
      testpki::make_leaf(ca, {"alice@example.org", Alg::ec, -1, 365, "emailProtection", 3});
  Identity bob_rsa =
      testpki::make_leaf(ca, {"bob@example.net", Alg::rsa, -1, 365, "emailProtection", 4});
  Identity bob_ec =
      testpki::make_leaf(ca, {"bob@example.net", Alg::ec, -1, 365, "emailProtection", 5});
  Identity mallory = testpki::make_leaf(other_ca, {"alice@example.org", Alg::rsa});
};

Pki& pki() {
  static Pki p;
  return p;
}

std::string do_sign(const Identity& id, const std::string& content, bool opaque) {
  BioPtr in = mem_bio(content);
  BioPtr out(BIO_new(BIO_s_mem()));
  Status s = sign(in.get(), out.get(), {id.cert.get(), id.key.get(), {}}, {opaque});
  EXPECT_TRUE(s.ok()) << s.reason;
  return testpki::bio_string(out.get());
}

CmsPtr parse(const std::string& der) {
  BioPtr in = mem_bio(der);
  ParsedCms p = parse_cms(in.get());
  return std::move(p.cms);
}

Verdict check_detached(const std::string& content, const std::string& sig,
                       const VerifyContext& ctx) {
  CmsPtr cms = parse(sig);
  if (!cms) return Verdict{};
  BioPtr in = mem_bio(content);
  return verify_detached(in.get(), cms.get(), ctx);
}

struct VerifyEnv {
  X509StorePtr store = make_store({pki().ca.cert.get()});
  VerifyContext ctx() const { return VerifyContext{store.get(), {}, std::nullopt, {}}; }
};

// parse_cms_der reuses the certificates of signed-data across messages: the result must
// be the one parse_cms gives (same certificates in the same order, same verdicts), also
// for tampered signatures, for a signer another CA issued, and for non-signed CMS.
TEST(SmimeParse, ParseCmsDerMatchesParseCms) {
  VerifyEnv env;
  for (const Identity* id : {&pki().alice_rsa, &pki().alice_ec, &pki().mallory}) {
    std::string sig = do_sign(*id, kContent, false);
    for (int round = 0; round < 2; ++round) {  // the second round hits the cache
      ParsedCms fast = parse_cms_der(sig);
      ASSERT_TRUE(fast.status.ok()) << fast.status.reason;
      EXPECT_EQ(fast.kind, CmsKind::signed_data);
      CmsPtr slow = parse(sig);
      X509StackPtr a(CMS_get1_certs(fast.cms.get())), b(CMS_get1_certs(slow.get()));
      ASSERT_TRUE(a && b);
      ASSERT_EQ(sk_X509_num(a.get()), sk_X509_num(b.get()));
      for (int i = 0; i < sk_X509_num(b.get()); ++i)
        EXPECT_EQ(X509_cmp(sk_X509_value(a.get(), i), sk_X509_value(b.get(), i)), 0);
      BioPtr in = mem_bio(kContent);
      Verdict v = verify_detached(in.get(), fast.cms.get(), env.ctx());
      BioPtr in2 = mem_bio(kContent);
      Verdict w = verify_detached(in2.get(), slow.get(), env.ctx());
      EXPECT_EQ(v.status, w.status) << v.reason << " / " << w.reason;
      EXPECT_EQ(v.signer_fingerprint, w.signer_fingerprint);
      BioPtr bad = mem_bio(kContent + "x");
      EXPECT_EQ(verify_detached(bad.get(), fast.cms.get(), env.ctx()).status,
                VerdictStatus::bad_signature);
    }
  }
  // Opaque signed-data, enveloped data and junk take the same way as parse_cms.
  std::string opaque = do_sign(pki().alice_rsa, kContent, true);
  ParsedCms o = parse_cms_der(opaque);
  ASSERT_TRUE(o.status.ok());
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_EQ(verify_opaque(o.cms.get(), out.get(), env.ctx()).status, VerdictStatus::valid);
  EXPECT_EQ(testpki::bio_string(out.get()), kContent);
  EXPECT_EQ(parse_cms_der("junk").status.failure, Failure::malformed);
  EXPECT_EQ(parse_cms_der(opaque.substr(0, opaque.size() / 2)).status.failure, Failure::malformed);
}

TEST(SmimeSign, DetachedAndOpaqueRoundTripRsaAndEc) {
  VerifyEnv env;
  for (const Identity* id : {&pki().alice_rsa, &pki().alice_ec}) {
    std::string sig = do_sign(*id, kContent, false);
    Verdict v = check_detached(kContent, sig, env.ctx());
    EXPECT_EQ(v.status, VerdictStatus::valid) << v.reason;
    EXPECT_EQ(v.signer_emails, std::vector<std::string>{"alice@example.org"});
    EXPECT_EQ(v.digest_algorithm, "SHA256");
    EXPECT_EQ(v.signer_fingerprint, cert_fingerprint_sha256(id->cert.get()));
    EXPECT_EQ(v.signer_fingerprint.size(), 64u);

    std::string opaque = do_sign(*id, kContent, true);
    CmsPtr cms = parse(opaque);
    ASSERT_TRUE(cms);
    BioPtr out(BIO_new(BIO_s_mem()));
    Verdict o = verify_opaque(cms.get(), out.get(), env.ctx());
    EXPECT_EQ(o.status, VerdictStatus::valid) << o.reason;
    EXPECT_EQ(testpki::bio_string(out.get()), kContent);
  }
  std::string sig = do_sign(pki().alice_ec, kContent, false);
  EXPECT_EQ(check_detached(kContent, sig, env.ctx()).signature_algorithm.rfind("ecdsa", 0), 0u);
}

// The signed attributes tell a correspondent which ciphers to encrypt to us with
// (RFC 8551 2.5.2), the same list OpenSSL's CMS_sign would add (aes-256-cbc first).
TEST(SmimeSign, SignatureCarriesSmimeCapabilities) {
  for (bool opaque : {false, true}) {
    CmsPtr cms = parse(do_sign(pki().alice_rsa, kContent, opaque));
    ASSERT_TRUE(cms);
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
    ASSERT_NE(si, nullptr);
    int at = CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1);
    ASSERT_GE(at, 0);
    EXPECT_LT(CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, at), 0) << "only once";
    ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, at), 0);
    ASSERT_NE(value, nullptr);
    ASSERT_EQ(value->type, V_ASN1_SEQUENCE);
    const unsigned char* p = value->value.sequence->data;
    STACK_OF(X509_ALGOR)* caps = d2i_X509_ALGORS(nullptr, &p, value->value.sequence->length);
    ASSERT_NE(caps, nullptr);
    std::vector<int> nids;
    for (int i = 0; i < sk_X509_ALGOR_num(caps); ++i) {
      const ASN1_OBJECT* oid = nullptr;
      X509_ALGOR_get0(&oid, nullptr, nullptr, sk_X509_ALGOR_value(caps, i));
      nids.push_back(OBJ_obj2nid(oid));
    }
    sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
    ASSERT_FALSE(nids.empty());
    EXPECT_EQ(nids.front(), NID_aes_256_cbc);
    EXPECT_NE(std::find(nids.begin(), nids.end(), NID_aes_128_cbc), nids.end());
  }
}

TEST(SmimeSign, RefusesMismatchedKey) {
  BioPtr in = mem_bio(kContent);
  BioPtr out(BIO_new(BIO_s_mem()));
  Status s = sign(in.get(), out.get(), {pki().alice_rsa.cert.get(), pki().bob_rsa.key.get(), {}});
  EXPECT_EQ(s.failure, Failure::bad_input);
}

TEST(SmimeVerify, TamperedContentOrSignatureIsBadSignature) {
  VerifyEnv env;
  std::string sig = do_sign(pki().alice_rsa, kContent, false);
  std::string content = kContent;
  content[content.size() - 5] ^= 0x01;
  EXPECT_EQ(check_detached(content, sig, env.ctx()).status, VerdictStatus::bad_signature);
  EXPECT_EQ(check_detached(kContent + "x", sig, env.ctx()).status, VerdictStatus::bad_signature);
  // RSA signature value is the last 256 bytes of the DER for one signer.
  std::string bad = sig;
  bad[bad.size() - 20] ^= 0x01;
  EXPECT_EQ(check_detached(kContent, bad, env.ctx()).status, VerdictStatus::bad_signature);
}

TEST(SmimeVerify, CertificateProblemsHaveTheirOwnVerdict) {
  Identity expired = testpki::make_leaf(pki().ca, {"old@example.org", Alg::rsa, -400, -10});
  Identity no_eku =
      testpki::make_leaf(pki().ca, {"c@example.org", Alg::rsa, -1, 365, "clientAuth", 9});
  Identity revoked =
      testpki::make_leaf(pki().ca, {"r@example.org", Alg::ec, -1, 365, "emailProtection", 77});
  Identity dn_email =
      testpki::make_leaf(pki().ca, {"d@example.org", Alg::rsa, -1, 365, nullptr, 11, true});
  X509CrlPtr crl = testpki::make_crl(pki().ca, {77});
  VerifyEnv env;
  struct Case {
    const char* name;
    const Identity* signer;
    VerifyContext ctx;
    VerdictStatus want;
  };
  std::time_t in_two_years = std::time(nullptr) + 2 * 365 * 86400;
  std::vector<Case> cases = {
      {"valid", &pki().alice_rsa, env.ctx(), VerdictStatus::valid},
      {"other CA", &pki().mallory, env.ctx(), VerdictStatus::untrusted},
      {"expired", &expired, env.ctx(), VerdictStatus::expired},
      {"verified later",
       &pki().alice_rsa,
       {env.store.get(), {}, in_two_years, {}},
       VerdictStatus::expired},
      {"wrong EKU", &no_eku, env.ctx(), VerdictStatus::untrusted},
      {"revoked",
       &revoked,
       {env.store.get(), {crl.get()}, std::nullopt, {}},
       VerdictStatus::revoked},
      {"CRL not naming it",
       &pki().alice_rsa,
       {env.store.get(), {crl.get()}, std::nullopt, {}},
       VerdictStatus::valid},
      {"no EKU, email in DN", &dn_email, env.ctx(), VerdictStatus::valid},
  };
  for (const Case& c : cases) {
    std::string sig = do_sign(*c.signer, kContent, false);
    Verdict v = check_detached(kContent, sig, c.ctx);
    EXPECT_EQ(verdict_name(v.status), verdict_name(c.want)) << c.name << ": " << v.reason;
    EXPECT_FALSE(v.signer_emails.empty()) << c.name;
  }
  std::string sig = do_sign(dn_email, kContent, false);
  EXPECT_EQ(check_detached(kContent, sig, env.ctx()).signer_emails,
            std::vector<std::string>{"d@example.org"});
}

TEST(SmimeVerify, MalformedInputs) {
  VerifyEnv env;
  BioPtr junk = mem_bio("this is not DER");
  EXPECT_EQ(parse_cms(junk.get()).status.failure, Failure::malformed);
  std::string sig = do_sign(pki().alice_rsa, kContent, false);
  BioPtr truncated = mem_bio(sig.substr(0, sig.size() / 2));
  EXPECT_EQ(parse_cms(truncated.get()).status.failure, Failure::malformed);
  // An opaque signature handed to the detached verifier is refused, not "valid".
  std::string opaque = do_sign(pki().alice_rsa, kContent, true);
  EXPECT_EQ(check_detached(kContent, opaque, env.ctx()).status, VerdictStatus::malformed);
  // Verifying enveloped data as a signature is malformed.
  BioPtr in = mem_bio(kContent);
  BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(encrypt(in.get(), out.get(), {pki().bob_rsa.cert.get()}).ok());
  EXPECT_EQ(check_detached(kContent, testpki::bio_string(out.get()), env.ctx()).status,
            VerdictStatus::malformed);
}

std::string do_encrypt(const std::vector<X509*>& to, EncryptOptions opts) {
  BioPtr in = mem_bio(kContent);
  BioPtr out(BIO_new(BIO_s_mem()));
  Status s = encrypt(in.get(), out.get(), to, opts);
  EXPECT_TRUE(s.ok()) << s.reason;
  return testpki::bio_string(out.get());
}

DecryptResult do_decrypt(const std::string& der, const std::vector<const Identity*>& keys,
                         std::string* plain) {
  BioPtr in = mem_bio(der);
  ParsedCms p = parse_cms(in.get());
  if (!p.status.ok()) return DecryptResult{p.status};
  std::vector<RecipientKey> rk;
  for (const Identity* id : keys) rk.push_back({id->cert.get(), id->key.get()});
  BioPtr out(BIO_new(BIO_s_mem()));
  DecryptResult r = decrypt(p.cms.get(), out.get(), rk);
  *plain = testpki::bio_string(out.get());
  return r;
}

TEST(SmimeEncrypt, RoundTripsForEveryKeyTypeAndCipher) {
  struct Case {
    const Identity* to;
    Cipher cipher;
    bool oaep;
    CmsKind kind;
  };
  std::vector<Case> cases;
  for (const Identity* id : {&pki().bob_rsa, &pki().bob_ec})
    for (Cipher c : {Cipher::aes256_cbc, Cipher::aes256_gcm})
      for (bool oaep : {false, true})
        cases.push_back(
            {id, c, oaep,
             c == Cipher::aes256_gcm ? CmsKind::auth_enveloped_data : CmsKind::enveloped_data});
  for (const Case& c : cases) {
    std::string der =
        do_encrypt({pki().alice_rsa.cert.get(), c.to->cert.get()}, {c.cipher, c.oaep});
    BioPtr in = mem_bio(der);
    EXPECT_EQ(parse_cms(in.get()).kind, c.kind);
    EXPECT_EQ(der.find("secret plan"), std::string::npos);
    std::string plain;
    DecryptResult r = do_decrypt(der, {&pki().mallory, c.to}, &plain);
    ASSERT_TRUE(r.status.ok()) << r.status.reason;
    EXPECT_EQ(r.key_index, 1);
    EXPECT_EQ(plain, kContent);
    EXPECT_EQ(r.authenticated, c.cipher == Cipher::aes256_gcm);
  }
}

TEST(SmimeDecrypt, WrongKeyTamperAndGarbage) {
  std::string plain;
  std::string der = do_encrypt({pki().bob_rsa.cert.get()}, {Cipher::aes256_gcm, false});
  EXPECT_EQ(do_decrypt(der, {&pki().alice_rsa, &pki().bob_ec}, &plain).status.failure,
            Failure::wrong_key);
  EXPECT_EQ(do_decrypt(der, {}, &plain).status.failure, Failure::wrong_key);
  // A flipped byte in the GCM ciphertext (just before the 16-byte tag and its header).
  std::string bad = der;
  bad[bad.size() - 30] ^= 0x40;
  DecryptResult r = do_decrypt(bad, {&pki().bob_rsa}, &plain);
  EXPECT_FALSE(r.status.ok());
  EXPECT_TRUE(r.status.failure == Failure::integrity || r.status.failure == Failure::malformed)
      << failure_name(r.status.failure);
  EXPECT_EQ(do_decrypt("garbage", {&pki().bob_rsa}, &plain).status.failure, Failure::malformed);
  // Signed data is not decryptable.
  std::string signed_der = do_sign(pki().alice_rsa, kContent, true);
  EXPECT_EQ(do_decrypt(signed_der, {&pki().bob_rsa}, &plain).status.failure, Failure::bad_input);
}

TEST(SmimeEncrypt, RefusesUnsupportedOrMissingRecipients) {
  BioPtr in = mem_bio(kContent);
  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_EQ(encrypt(in.get(), out.get(), {}).failure, Failure::bad_input);
  PKeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  X509Ptr cert = testpki::new_cert(ed.get(), "ed", 5, -1, 10);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_sign(cert.get(), ed.get(), nullptr);
  EXPECT_EQ(encrypt(in.get(), out.get(), {cert.get()}).failure, Failure::bad_input);
}

}  // namespace
}  // namespace mailseal::crypto::smime
