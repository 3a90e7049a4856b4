// Issue 6: which verified messages may give their signer's key to the store, and the
// Autocrypt header parsing (gateway/harvest.h).
#include "gateway/harvest.h"

#include <gtest/gtest.h>

#include "keys/cert_builder.h"
#include "util/base64.h"

namespace mailseal::gateway {
namespace {

namespace smime = crypto::smime;
using PS = openpgp::VerdictStatus;

smime::Verdict smime_verdict(smime::VerdictStatus s, std::string email = "carol@partner.example") {
  smime::Verdict v;
  v.status = s;
  v.signer_emails = {std::move(email)};
  auto key = keys::generate_key(keys::KeyAlgorithm::p256).value();
  v.signer = keys::make_user_certificate(key.get(), "carol@partner.example", nullptr, nullptr,
                                         {1'800'000'000, 30})
                 .value();
  return v;
}

openpgp::Verdict pgp_verdict(PS s, std::string email = "gary@partner.net") {
  openpgp::Verdict v;
  v.status = s;
  v.signer_emails = {std::move(email)};
  v.signer_fingerprint = "AAAA";
  v.signing_key_fingerprint = "BBBB";
  return v;
}

const std::vector<std::string> kCarol{"carol@partner.example"};
const std::vector<std::string> kGary{"gary@partner.net"};

TEST(HarvestDecision, SmimeOnlyFullyGoodSignaturesOfTheFromAddress) {
  std::vector<smime::Verdict> v;
  EXPECT_FALSE(smime_harvestable(v, kCarol));  // unsigned
  v.push_back(smime_verdict(smime::VerdictStatus::valid));
  EXPECT_TRUE(smime_harvestable(v, kCarol));
  EXPECT_TRUE(smime_harvestable(v, {"carol@PARTNER.example"}));   // domain case-insensitive
  EXPECT_FALSE(smime_harvestable(v, {"Carol@partner.example"}));  // local part exact
  EXPECT_FALSE(smime_harvestable(v, {}));                         // no From
  EXPECT_FALSE(smime_harvestable(v, {"carol@partner.example", "x@partner.example"}));
  EXPECT_FALSE(smime_harvestable(v, {"mallory@partner.example"}));  // signer-not-from
  for (auto s : {smime::VerdictStatus::bad_signature, smime::VerdictStatus::untrusted,
                 smime::VerdictStatus::expired, smime::VerdictStatus::revoked,
                 smime::VerdictStatus::malformed}) {
    std::vector<smime::Verdict> one;
    one.push_back(smime_verdict(s));
    EXPECT_FALSE(smime_harvestable(one, kCarol)) << smime::verdict_name(s);
    // One bad layer spoils a good one: the message as a whole was not fully good.
    one.push_back(smime_verdict(smime::VerdictStatus::valid));
    EXPECT_FALSE(smime_harvestable(one, kCarol)) << smime::verdict_name(s);
  }
  std::vector<smime::Verdict> no_cert;
  no_cert.push_back(smime_verdict(smime::VerdictStatus::valid));
  no_cert.back().signer.reset();
  EXPECT_FALSE(smime_harvestable(no_cert, kCarol));
}

TEST(HarvestDecision, OpenpgpOnlyValidKnownSignerBoundToFrom) {
  std::vector<openpgp::Verdict> v;
  EXPECT_FALSE(openpgp_harvestable(v, kGary));
  v.push_back(pgp_verdict(PS::valid));
  EXPECT_TRUE(openpgp_harvestable(v, kGary));
  EXPECT_FALSE(openpgp_harvestable(v, {"rita@partner.net"}));
  EXPECT_FALSE(openpgp_harvestable(v, {}));
  for (auto s :
       {PS::bad_signature, PS::unknown_signer, PS::expired_key, PS::revoked_key, PS::no_signature,
        PS::decrypt_failed, PS::integrity_failure, PS::malformed, PS::io_error}) {
    std::vector<openpgp::Verdict> one{pgp_verdict(s), pgp_verdict(PS::valid)};
    EXPECT_FALSE(openpgp_harvestable(one, kGary)) << openpgp::verdict_status_name(s);
  }
  auto anonymous = pgp_verdict(PS::valid);
  anonymous.signing_key_fingerprint.clear();  // which key signed is needed for the check
  EXPECT_FALSE(openpgp_harvestable({anonymous}, kGary));
}

std::vector<mime::Header> ac(std::vector<std::string> values) {
  std::vector<mime::Header> hs{{"From", "gary@partner.net"}};
  for (auto& v : values) hs.push_back({"Autocrypt", std::move(v)});
  return hs;
}

TEST(Autocrypt, KeydataOfTheFromAddress) {
  std::string key = "\x99\x01\x02key bytes";
  std::string b64 = util::base64_encode(key);
  std::string folded = b64.substr(0, 4) + "\r\n " + b64.substr(4);
  auto k = autocrypt_keydata(
      ac({"addr=gary@partner.net; prefer-encrypt=mutual; keydata=" + folded}), "gary@partner.net");
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, key);
  EXPECT_TRUE(
      autocrypt_keydata(ac({"addr=GARY@partner.net; _x=1; keydata=" + b64}), "gary@partner.net"));
  // addr is someone else, an unknown critical attribute, no keydata, bad base64, two
  // valid headers (the spec: then none counts), a duplicated attribute.
  EXPECT_FALSE(
      autocrypt_keydata(ac({"addr=rita@partner.net; keydata=" + b64}), "gary@partner.net"));
  EXPECT_FALSE(
      autocrypt_keydata(ac({"addr=gary@partner.net; type=2; keydata=" + b64}), "gary@partner.net"));
  EXPECT_FALSE(autocrypt_keydata(ac({"addr=gary@partner.net"}), "gary@partner.net"));
  EXPECT_FALSE(autocrypt_keydata(ac({"addr=gary@partner.net; keydata=!!!"}), "gary@partner.net"));
  EXPECT_FALSE(autocrypt_keydata(
      ac({"addr=gary@partner.net; keydata=" + b64, "addr=gary@partner.net; keydata=" + b64}),
      "gary@partner.net"));
  EXPECT_FALSE(autocrypt_keydata(
      ac({"addr=gary@partner.net; addr=rita@partner.net; keydata=" + b64}), "gary@partner.net"));
  // One valid among invalid ones is used.
  EXPECT_TRUE(autocrypt_keydata(
      ac({"addr=rita@partner.net; keydata=" + b64, "addr=gary@partner.net; keydata=" + b64}),
      "gary@partner.net"));
  EXPECT_FALSE(autocrypt_keydata(ac({}), "gary@partner.net"));
}

}  // namespace
}  // namespace mailseal::gateway
