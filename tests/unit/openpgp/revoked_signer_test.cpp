// A signature by a key revoked since (issue 6, B): RNP 0.16 reports it "invalid" without
// checking it; open.cpp re-checks it against the key without its revocation, so an intact
// message is revoked_key (for [open] revoked to decide) and a tampered one stays
// bad_signature.
#include <rnp/rnp.h>

#include "openpgp/generate.h"
#include "openpgp/open.h"
#include "openpgp/seal.h"
#include "test_support.h"

namespace mailseal::openpgp {
namespace {

struct Revoked {
  Keyring alice = std::move(Keyring::create().value());  // alice secret + bob public
  Keyring bob = std::move(Keyring::create().value());    // bob secret + alice public
  std::string alice_fpr, bob_fpr, entity = testing::sample_mime(), sig, sealed;

  Revoked() {
    auto a = generate_key(alice, "alice@example.org");
    auto b = generate_key(bob, "bob@example.com");
    EXPECT_TRUE(a.ok() && b.ok());
    alice_fpr = a->fingerprint();
    bob_fpr = b->fingerprint();
    EXPECT_TRUE(alice.import_keys(bob.export_public(bob_fpr, false).value()).ok());
    EXPECT_TRUE(bob.import_keys(alice.export_public(alice_fpr, false).value()).ok());
    // Signed (and sealed) while the key is good ...
    EXPECT_TRUE(sign_detached(alice, entity, sig, alice_fpr).ok());
    EXPECT_TRUE(seal(alice, entity, sealed, {bob_fpr}, alice_fpr).ok());
    // ... then alice revokes it and bob learns of the revocation.
    rnp_key_handle_t h = nullptr;
    EXPECT_EQ(rnp_locate_key(alice.ffi(), "fingerprint", alice_fpr.c_str(), &h), 0u);
    EXPECT_EQ(rnp_key_revoke(h, 0, nullptr, "compromised", "lost laptop"), 0u);
    rnp_key_handle_destroy(h);
    EXPECT_TRUE(bob.import_keys(alice.export_public(alice_fpr, false).value()).ok());
  }
};

TEST(RevokedSigner, IntactDetachedSignatureIsRevokedNotBad) {
  Revoked r;
  Verdict v = verify_detached(r.bob, r.entity, r.sig);
  EXPECT_EQ(v.status, VerdictStatus::revoked_key) << v.reason;
  EXPECT_EQ(v.signer_fingerprint, r.alice_fpr);
  EXPECT_TRUE(v.signed_by("alice@example.org"));
  EXPECT_TRUE(v.revoked_recheck.empty());
  // The revocation is still in force in bob's keyring (the recheck used a copy).
  EXPECT_EQ(verify_detached(r.bob, r.entity, r.sig).status, VerdictStatus::revoked_key);
}

TEST(RevokedSigner, TamperedContentStaysBadSignature) {
  Revoked r;
  std::string changed = r.entity;
  changed[changed.size() - 3] = '6';
  Verdict v = verify_detached(r.bob, changed, r.sig);
  EXPECT_EQ(v.status, VerdictStatus::bad_signature) << v.reason;
  // A signature made by another key over other bytes, claiming nothing: bad too.
  std::string other_sig;
  ASSERT_TRUE(sign_detached(r.bob, "other text", other_sig, r.bob_fpr).ok());
  EXPECT_EQ(verify_detached(r.bob, r.entity, other_sig).status, VerdictStatus::bad_signature);
}

TEST(RevokedSigner, SignedAndEncryptedIsRevoked) {
  Revoked r;
  std::string plain;
  Verdict v = open(r.bob, r.sealed, plain);
  EXPECT_EQ(v.status, VerdictStatus::revoked_key) << v.reason;
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(plain, r.entity);  // the first pass's output, written once
}

}  // namespace
}  // namespace mailseal::openpgp
