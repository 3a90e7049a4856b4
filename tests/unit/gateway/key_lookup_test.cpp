// KeyLookup and discovery sources (issue 6): a discovery source's failure (WKD, DANE down)
// decides only when no source has a certificate; any other source's failure stops the
// search as before.
#include <gtest/gtest.h>

#include "gateway/key_lookup.h"

namespace mailseal::gateway {
namespace {

class Fake : public keys::KeySource {
 public:
  Fake(std::string name, bool discovery, bool fails, bool has_cert)
      : name_(std::move(name)), discovery_(discovery), fails_(fails), has_cert_(has_cert) {}
  std::string name() const override { return name_; }
  bool discovery() const override { return discovery_; }
  std::vector<keys::PublicKeyRecord> find_public(std::string_view a, keys::KeyKind,
                                                 std::optional<keys::SourceError>& e) override {
    ++asked;
    if (fails_) {
      e = keys::SourceError{name_, "down", discovery_};
      return {};
    }
    std::vector<keys::PublicKeyRecord> out;
    if (has_cert_) {
      keys::PublicKeyRecord r;
      r.address = a;
      r.cert.reset(X509_new());
      r.source = name_;
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<keys::SecretKeyRecord> find_secret(std::string_view, keys::KeyKind,
                                                 std::optional<keys::SourceError>&) override {
    return {};
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<keys::SourceError>&) override {
    return {};
  }
  std::vector<crypto::X509CrlPtr> crls(std::optional<keys::SourceError>&) override { return {}; }
  int asked = 0;

 private:
  std::string name_;
  bool discovery_, fails_, has_cert_;
};

TEST(KeyLookupDiscovery, FailedDiscoveryDecidesOnlyWithoutACertificate) {
  Fake store("sqlite", false, false, false), wkd("wkd", true, true, false);
  Fake dane("dane", true, false, true);
  std::optional<keys::SourceError> err;
  // wkd is down, but dane (later) has a certificate: used, no error.
  auto found = KeyLookup({&store, &wkd, &dane}).certificate("bob@partner.example", err);
  ASSERT_TRUE(found);
  EXPECT_FALSE(err);
  EXPECT_EQ(found->source, "dane");
  // Nobody has one: the discovery failure is the answer (-> 451).
  Fake empty_dane("dane", true, false, false);
  found = KeyLookup({&store, &wkd, &empty_dane}).certificate("bob@partner.example", err);
  EXPECT_FALSE(found);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->source, "wkd");
  EXPECT_TRUE(err->discovery);
}

TEST(KeyLookupDiscovery, OtherSourcesFailuresStillStopTheSearch) {
  Fake ldap("ldap", false, true, false), dane("dane", true, false, true);
  std::optional<keys::SourceError> err;
  auto found = KeyLookup({&ldap, &dane}).certificate("bob@partner.example", err);
  EXPECT_FALSE(found);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->source, "ldap");
  EXPECT_FALSE(err->discovery);
  EXPECT_EQ(dane.asked, 0);
}

}  // namespace
}  // namespace mailseal::gateway
