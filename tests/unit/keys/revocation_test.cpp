// OCSP response checks (signature, delegation, nonce, freshness) and the CRL side of the
// RevocationChecker, on an in-memory PKI: no network (OCSP off or unreachable URLs absent).
#include <gtest/gtest.h>
#include <openssl/ocsp.h>

#include <chrono>

#include "../crypto/test_pki.h"
#include "keys/http_fetch.h"
#include "keys/ocsp.h"
#include "keys/revocation_checker.h"

namespace mailseal::keys {
namespace {

using testpki::Identity;

struct ResponseSpec {
  int status = V_OCSP_CERTSTATUS_GOOD;
  long this_offset = -60;   // seconds from now
  long next_offset = 3600;  // 0: no nextUpdate
  bool echo_nonce = true;
  bool wrong_nonce = false;
};

std::string make_response(const Identity& signer, X509* cert, X509* issuer, const OcspRequest& req,
                          const ResponseSpec& spec) {
  OCSP_BASICRESP* bs = OCSP_BASICRESP_new();
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
  ASN1_TIME* this_t = X509_gmtime_adj(nullptr, spec.this_offset);
  ASN1_TIME* next_t = spec.next_offset ? X509_gmtime_adj(nullptr, spec.next_offset) : nullptr;
  ASN1_TIME* rev_t =
      spec.status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(nullptr, -7200) : nullptr;
  OCSP_basic_add1_status(bs, id, spec.status, rev_t ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1, rev_t,
                         this_t, next_t);
  if (spec.echo_nonce) OCSP_copy_nonce(bs, req.request.get());
  if (spec.wrong_nonce) {
    unsigned char other[16] = {1, 2, 3};
    OCSP_basic_add1_nonce(bs, other, sizeof other);
  }
  OCSP_basic_sign(bs, signer.cert.get(), signer.key.get(), EVP_sha256(), nullptr, 0);
  OCSP_RESPONSE* resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
  unsigned char* der = nullptr;
  int n = i2d_OCSP_RESPONSE(resp, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  OCSP_RESPONSE_free(resp);
  OCSP_BASICRESP_free(bs);
  OCSP_CERTID_free(id);
  ASN1_TIME_free(this_t);
  ASN1_TIME_free(next_t);
  ASN1_TIME_free(rev_t);
  return out;
}

class OcspTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Identity(testpki::make_ca("OCSP Test CA"));
    other_ = new Identity(testpki::make_ca("Other CA"));
    user_ = new Identity(testpki::make_leaf(
        *ca_, {"user@partner.example", testpki::Alg::rsa, -1, 365, "emailProtection", 7}));
    responder_ = new Identity(
        testpki::make_leaf(*ca_, {"responder", testpki::Alg::rsa, -1, 365, "OCSPSigning", 8}));
    not_responder_ = new Identity(testpki::make_leaf(
        *ca_, {"not-a-responder", testpki::Alg::rsa, -1, 365, "emailProtection", 9}));
  }
  OcspAnswer check(const Identity& signer, const ResponseSpec& spec) {
    auto req = make_ocsp_request(user_->cert.get(), ca_->cert.get());
    EXPECT_TRUE(req);
    std::string der = make_response(signer, user_->cert.get(), ca_->cert.get(), *req, spec);
    OcspCheckOptions o;
    o.now = std::time(nullptr);
    return check_ocsp_response(der, *req, ca_->cert.get(), o);
  }
  static inline Identity* ca_;
  static inline Identity* other_;
  static inline Identity* user_;
  static inline Identity* responder_;
  static inline Identity* not_responder_;
};

TEST_F(OcspTest, GoodAndRevokedAnswersSignedByTheIssuer) {
  auto good = check(*ca_, {});
  ASSERT_TRUE(good.ok) << good.why;
  EXPECT_EQ(good.state, CertState::good);
  ASSERT_TRUE(good.next_update);
  EXPECT_GT(*good.next_update, std::time(nullptr));
  auto revoked = check(*ca_, {V_OCSP_CERTSTATUS_REVOKED});
  ASSERT_TRUE(revoked.ok) << revoked.why;
  EXPECT_EQ(revoked.state, CertState::revoked);
}

TEST_F(OcspTest, DelegatedResponderNeedsTheOcspSigningEku) {
  auto delegated = check(*responder_, {V_OCSP_CERTSTATUS_REVOKED});
  ASSERT_TRUE(delegated.ok) << delegated.why;
  EXPECT_EQ(delegated.state, CertState::revoked);
  EXPECT_FALSE(check(*not_responder_, {}).ok);
}

TEST_F(OcspTest, AnswerSignedByAnotherCaIsRefused) {
  auto a = check(*other_, {V_OCSP_CERTSTATUS_GOOD});
  EXPECT_FALSE(a.ok);
}

TEST_F(OcspTest, NonceMustMatchWhenEchoed) {
  ResponseSpec wrong;
  wrong.echo_nonce = false;
  wrong.wrong_nonce = true;
  EXPECT_FALSE(check(*ca_, wrong).ok);
  ResponseSpec absent;  // not echoed: allowed, freshness decides
  absent.echo_nonce = false;
  EXPECT_TRUE(check(*ca_, absent).ok);
}

TEST_F(OcspTest, FreshnessWithinSkew) {
  ResponseSpec stale;
  stale.this_offset = -7200;
  stale.next_offset = -3600;
  EXPECT_FALSE(check(*ca_, stale).ok);
  ResponseSpec future;
  future.this_offset = 3600;
  future.next_offset = 7200;
  EXPECT_FALSE(check(*ca_, future).ok);
  ResponseSpec slightly_late;  // nextUpdate passed 2 minutes ago: within the 5 minute skew
  slightly_late.this_offset = -3600;
  slightly_late.next_offset = -120;
  EXPECT_TRUE(check(*ca_, slightly_late).ok);
  ResponseSpec old_without_next;  // no nextUpdate, no nonce, two hours old
  old_without_next.this_offset = -7200;
  old_without_next.next_offset = 0;
  old_without_next.echo_nonce = false;
  EXPECT_FALSE(check(*ca_, old_without_next).ok);
}

TEST_F(OcspTest, GarbageIsNotAnAnswer) {
  auto req = make_ocsp_request(user_->cert.get(), ca_->cert.get());
  ASSERT_TRUE(req);
  OcspCheckOptions o;
  o.now = std::time(nullptr);
  EXPECT_FALSE(check_ocsp_response("not der", *req, ca_->cert.get(), o).ok);
}

TEST_F(OcspTest, CrlOfTheIssuerRevokesOthersAreIgnored) {
  RevocationSettings s;
  s.ocsp = OcspMode::off;
  s.fetch_crls = false;
  RevocationChecker checker(s, nullptr, nullptr);
  auto listed = testpki::make_crl(*ca_, {7});
  auto forged = testpki::make_crl(*other_, {7});
  // A CRL with the right issuer name but signed by another key is not believed either.
  X509_CRL_set_issuer_name(forged.get(), X509_get_subject_name(ca_->cert.get()));
  X509_CRL_sign(forged.get(), other_->key.get(), EVP_sha256());
  auto clean = testpki::make_crl(*ca_, {});
  EXPECT_EQ(checker.check(user_->cert.get(), ca_->cert.get(), {listed.get()}).state,
            Revocation::revoked);
  EXPECT_EQ(checker.check(user_->cert.get(), ca_->cert.get(), {forged.get()}).state,
            Revocation::unknown);
  EXPECT_EQ(checker.check(user_->cert.get(), ca_->cert.get(), {clean.get()}).state,
            Revocation::good);
  EXPECT_EQ(checker.check(user_->cert.get(), nullptr, {listed.get()}).state, Revocation::unknown);
}

// Nothing listens on port 1: soft-fail warns once and uses the certificate; while the
// responder rests the failure is answered at once; hard-fail reports `unavailable`.
TEST_F(OcspTest, UnreachableResponderSoftAndHardFail) {
  RevocationSettings s;
  s.fetch_crls = false;
  s.ocsp_url = "http://127.0.0.1:1/";
  s.ocsp_timeout = std::chrono::seconds(1);
  std::vector<std::string> warnings;
  RevocationChecker soft(s, nullptr, [&](const std::string& m) { warnings.push_back(m); });
  EXPECT_EQ(soft.check(user_->cert.get(), ca_->cert.get(), {}).state, Revocation::unknown);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("soft-fail"), std::string::npos);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(soft.check(user_->cert.get(), ca_->cert.get(), {}).state, Revocation::unknown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(warnings.size(), 1u);
  s.ocsp = OcspMode::hard_fail;
  RevocationChecker hard(s, nullptr, nullptr);
  EXPECT_EQ(hard.check(user_->cert.get(), ca_->cert.get(), {}).state, Revocation::unavailable);
  EXPECT_EQ(hard.check(user_->cert.get(), ca_->cert.get(), {}).state, Revocation::unavailable);
  // A CRL that lists the certificate decides before any responder is asked.
  auto listed = testpki::make_crl(*ca_, {7});
  EXPECT_EQ(hard.check(user_->cert.get(), ca_->cert.get(), {listed.get()}).state,
            Revocation::revoked);
}

TEST_F(OcspTest, FindIssuerChecksTheSignature) {
  std::vector<X509*> anchors{other_->cert.get(), ca_->cert.get()};
  EXPECT_EQ(find_issuer(user_->cert.get(), anchors), ca_->cert.get());
  EXPECT_EQ(find_issuer(user_->cert.get(), {other_->cert.get()}), nullptr);
}

TEST(HttpUrl, OnlyPlainHttp) {
  std::string why;
  auto t = parse_http_url("http://127.0.0.1/ca.crl", why);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "80");
  EXPECT_EQ(t->path, "/ca.crl");
  auto q = parse_http_url("http://ocsp.example:8080", why);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->port, "8080");
  EXPECT_EQ(q->path, "/");
  EXPECT_FALSE(parse_http_url("https://ocsp.example/", why));
  EXPECT_FALSE(parse_http_url("ldap://x/", why));
}

}  // namespace
}  // namespace mailseal::keys
