// KeyStore: round trips, lookup order and validity, removal, all-or-nothing writes,
// and refusal of secret-key blobs that were tampered with or swapped between rows.
// Every test runs on both backends: SQLite (a keys.db file) and PostgreSQL (a fresh
// database on a private server, pg_test_server.h).

#include "keys/key_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "keys/pg_db.h"
#include "keys/sqlite_db.h"
#include "keys/x509_util.h"
#include "keys_test_util.h"
#include "pg_test_server.h"

namespace mailseal::keys {
namespace {

using testing::Identity;
using testing::kNow;
using testing::make_identity;
using testing::PgTestServer;
using testing::TempDir;

using Kind = StoreLocation::Kind;

class StoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::sqlite) {
      where_ = StoreLocation(dir_.path() / "keys.db");
      where_.refresh = std::chrono::milliseconds(0);  // see other stores' changes at once
    } else {
      where_ = StoreLocation::postgres({PgTestServer::get().new_database()});
      where_.refresh = std::chrono::milliseconds(0);  // see other stores' changes at once
    }
    auto s = KeyStore::create(db(), MasterKey::create(dir_.path() / "master.key").value(),
                              [this] { return now_; });
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s).value();
  }
  const StoreLocation& db() const { return where_; }
  bool pg() const { return GetParam() == Kind::postgresql; }
  // A connection of our own, outside the store (as another program would have).
  std::unique_ptr<sql::Connection> raw() {
    auto c = pg() ? sql::PgConnection::connect(where_.postgresql)
                  : sql::SqliteConnection::open(where_.file);
    EXPECT_TRUE(c) << c.error();
    return c ? std::move(c).value() : nullptr;
  }
  std::int64_t count(const std::string& table) {
    auto c = raw();
    auto q = c->prepare("SELECT count(*) FROM " + table);
    EXPECT_TRUE(q && q->step().value());
    return q->integer(0);
  }
  void add_secret(const std::string& addr, const Identity& id) {
    auto w = store_->begin_write();
    ASSERT_TRUE(w) << w.error();
    auto st = w->add_secret_key(addr, id.cert.get(), id.key.get(), {});
    ASSERT_TRUE(st) << st.error();
    ASSERT_TRUE(w->commit());
  }
  void add_cert(const std::string& addr, const Identity& id) {
    auto w = store_->begin_write();
    ASSERT_TRUE(w->add_certificate(addr, id.cert.get()));
    ASSERT_TRUE(w->commit());
  }
  void sql(const std::string& text) {
    auto st = raw()->exec(text);
    EXPECT_TRUE(st) << st.error();
  }

  TempDir dir_;
  StoreLocation where_;
  std::int64_t now_ = kNow + 3600;
  std::unique_ptr<KeyStore> store_;
};

TEST_P(StoreTest, PublicAndSecretRoundTrip) {
  auto alice = make_identity("alice@example.org");
  add_secret("alice@example.org", alice);
  std::optional<SourceError> err;
  // Domain case-insensitive, local part exact.
  auto pub = store_->find_public("alice@EXAMPLE.org", KeyKind::smime, err);
  ASSERT_FALSE(err);
  ASSERT_EQ(pub.size(), 1u);
  EXPECT_EQ(pub[0].fingerprint, fingerprint(alice.cert.get()));
  EXPECT_EQ(X509_cmp(pub[0].cert.get(), alice.cert.get()), 0);
  EXPECT_EQ(pub[0].source, pg() ? "postgresql" : "sqlite");
  EXPECT_TRUE(store_->find_public("Alice@example.org", KeyKind::smime, err).empty());
  auto sec = store_->find_secret("alice@example.org", KeyKind::smime, err);
  ASSERT_FALSE(err) << err->reason;
  ASSERT_EQ(sec.size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq(sec[0].key.get(), alice.key.get()), 1);
  EXPECT_TRUE(store_->find_public("alice@example.org", KeyKind::openpgp, err).empty());
}

TEST_P(StoreTest, ReopenWithSameKeyAndRefuseOtherKey) {
  add_secret("alice@example.org", make_identity("alice@example.org"));
  store_.reset();
  auto again = KeyStore::open(db(), MasterKey::load(dir_.path() / "master.key").value(),
                              [] { return kNow + 10; });
  ASSERT_TRUE(again) << again.error();
  std::optional<SourceError> err;
  EXPECT_EQ(again.value()->find_secret("alice@example.org", KeyKind::smime, err).size(), 1u);
  auto wrong = KeyStore::open(db(), MasterKey::generate().value());
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().find("does not belong"), std::string::npos);
}

TEST_P(StoreTest, NewestValidFirstExpiredAndFutureSkipped) {
  auto old_cert = make_identity("bob@example.org", kNow - 100 * 86400, 365);
  auto newer = make_identity("bob@example.org", kNow, 365);
  auto expired = make_identity("bob@example.org", kNow - 800 * 86400, 30);
  auto future = make_identity("bob@example.org", kNow + 30 * 86400, 365);
  for (auto* id : {&old_cert, &expired, &newer, &future}) add_cert("bob@example.org", *id);
  std::optional<SourceError> err;
  auto found = store_->find_public("bob@example.org", KeyKind::smime, err);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].fingerprint, fingerprint(newer.cert.get()));
  EXPECT_EQ(found[1].fingerprint, fingerprint(old_cert.cert.get()));
  auto all = store_->list("bob@example.org");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 4u);
}

TEST_P(StoreTest, ExpiredSecretOnlyForDecryption) {
  add_secret("carol@example.org", make_identity("carol@example.org", kNow - 800 * 86400, 30));
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->find_secret("carol@example.org", KeyKind::smime, err).empty());
  EXPECT_EQ(store_->find_secret_any_validity("carol@example.org", KeyKind::smime, err).size(), 1u);
}

TEST_P(StoreTest, RemoveByAddressAndFingerprintCascadesSecret) {
  auto a = make_identity("alice@example.org");
  auto b = make_identity("bob@example.org");
  add_secret("alice@example.org", a);
  add_secret("bob@example.org", b);
  auto w = store_->begin_write();
  EXPECT_EQ(w->remove_address("alice@Example.org").value(), 1);
  EXPECT_EQ(w->remove_fingerprint(fingerprint(b.cert.get())).value(), 1);
  ASSERT_TRUE(w->commit());
  EXPECT_TRUE(store_->list()->empty());
  EXPECT_EQ(count("secret_keys"), 0);
}

TEST_P(StoreTest, FailedWriteLeavesStoreUnchanged) {
  auto a = make_identity("alice@example.org");
  auto other = make_identity("mallory@example.org");
  {
    auto w = store_->begin_write();
    ASSERT_TRUE(w->add_certificate("alice@example.org", a.cert.get()));
    // Second step fails: a key that does not belong to the certificate.
    EXPECT_FALSE(w->add_secret_key("alice@example.org", a.cert.get(), other.key.get(), {}));
    // No commit: the Writer rolls back when it goes out of scope.
  }
  EXPECT_TRUE(store_->list()->empty());
  auto w = store_->begin_write();
  EXPECT_FALSE(w->add_certificate("bob@example.org", a.cert.get()));  // not its address
}

TEST_P(StoreTest, TamperedSecretBlobRefused) {
  add_secret("alice@example.org", make_identity("alice@example.org"));
  // Byte 21 is changed, whatever it was (setting it to 0 left it intact 1 time in 256).
  sql(pg() ? "UPDATE secret_keys SET sealed = overlay(sealed placing (CASE WHEN "
             "get_byte(sealed, 20) = 0 THEN '\\x01' ELSE '\\x00' END)::bytea from 21 for 1)"
           : "UPDATE secret_keys SET sealed = substr(sealed, 1, 20) || CASE WHEN "
             "substr(sealed, 21, 1) = x'00' THEN x'01' ELSE x'00' END || substr(sealed, 22)");
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->find_secret("alice@example.org", KeyKind::smime, err).empty());
  ASSERT_TRUE(err);
  EXPECT_NE(err->reason.find("failed authentication"), std::string::npos);
}

TEST_P(StoreTest, SwappedSecretBlobsRefused) {
  add_secret("alice@example.org", make_identity("alice@example.org"));
  add_secret("mallory@example.org", make_identity("mallory@example.org"));
  // Give mallory's row alice's sealed key: it must not open as mallory's key.
  sql("UPDATE secret_keys SET sealed = (SELECT s.sealed FROM secret_keys s JOIN certificates c "
      "ON c.id = s.certificate_id WHERE c.address = 'alice@example.org') WHERE certificate_id = "
      "(SELECT id FROM certificates WHERE address = 'mallory@example.org')");
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->find_secret("mallory@example.org", KeyKind::smime, err).empty());
  ASSERT_TRUE(err);
  err.reset();
  EXPECT_EQ(store_->find_secret("alice@example.org", KeyKind::smime, err).size(), 1u);
}

TEST_P(StoreTest, TrustAnchorsAndCrls) {
  auto key = generate_key(KeyAlgorithm::p256).value();
  auto ca = make_ca_certificate(key.get(), "Test CA", {"example.org"}, {kNow, 100}).value();
  auto w = store_->begin_write();
  ASSERT_TRUE(w->add_trust_anchor(ca.get()));
  ASSERT_TRUE(w->add_trust_anchor(ca.get()));  // repeat is a no-op
  EXPECT_FALSE(w->add_trust_anchor(make_identity("a@example.org").cert.get()));  // not a CA
  crypto::X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.get()));
  ASN1_TIME* t = ASN1_TIME_set(nullptr, kNow);
  X509_CRL_set1_lastUpdate(crl.get(), t);
  ASN1_TIME_free(t);
  X509_CRL_sign(crl.get(), key.get(), EVP_sha256());
  ASSERT_TRUE(w->add_crl(crl.get()));
  ASSERT_TRUE(w->commit());
  std::optional<SourceError> err;
  EXPECT_EQ(store_->trust_anchors(err).size(), 1u);
  EXPECT_EQ(store_->crls(err).size(), 1u);
  EXPECT_FALSE(err);
}

// A downloaded CRL replaces the older ones of its issuer; other issuers' CRLs stay.
TEST_P(StoreTest, NewerCrlSupersedesOlderOfTheSameIssuer) {
  auto key = generate_key(KeyAlgorithm::p256).value();
  auto ca = make_ca_certificate(key.get(), "Test CA", {"example.org"}, {kNow, 100}).value();
  auto other = make_ca_certificate(key.get(), "Other CA", {"example.net"}, {kNow, 100}).value();
  auto crl_at = [&](X509* issuer, std::int64_t when) {
    crypto::X509CrlPtr crl(X509_CRL_new());
    X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer));
    ASN1_TIME* t = ASN1_TIME_set(nullptr, when);
    X509_CRL_set1_lastUpdate(crl.get(), t);
    ASN1_TIME_free(t);
    X509_CRL_sign(crl.get(), key.get(), EVP_sha256());
    return crl;
  };
  auto old_crl = crl_at(ca.get(), kNow - 86400);
  auto other_crl = crl_at(other.get(), kNow - 86400);
  auto new_crl = crl_at(ca.get(), kNow);
  auto w = store_->begin_write();
  ASSERT_TRUE(w->add_crl(old_crl.get()));
  ASSERT_TRUE(w->add_crl(other_crl.get()));
  ASSERT_TRUE(w->add_crl(new_crl.get()));
  ASSERT_TRUE(w->supersede_crls(new_crl.get()));
  ASSERT_TRUE(w->commit());
  std::optional<SourceError> err;
  auto crls = store_->crls(err);
  ASSERT_EQ(crls.size(), 2u);
  for (const auto& c : crls) EXPECT_NE(X509_CRL_match(c.get(), old_crl.get()), 0);  // gone
}

TEST_P(StoreTest, ResealAllUnderNewKey) {
  add_secret("alice@example.org", make_identity("alice@example.org"));
  auto next = MasterKey::generate().value();
  auto next_id = next.id();
  ASSERT_TRUE(store_->reseal_all(std::move(next)));
  EXPECT_EQ(store_->master_key_id().value(), next_id);
  std::optional<SourceError> err;
  EXPECT_EQ(store_->find_secret("alice@example.org", KeyKind::smime, err).size(), 1u);
  EXPECT_FALSE(err);
}

TEST_P(StoreTest, NewerSchemaRefused) {
  store_.reset();
  sql(pg() ? "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
           : "PRAGMA user_version = 99");
  auto s = KeyStore::open(db(), std::nullopt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("newer"), std::string::npos);
}

TEST_P(StoreTest, ConcurrentReaders) {
  add_secret("alice@example.org", make_identity("alice@example.org"));
  std::atomic<int> found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::optional<SourceError> err;
        if (store_->find_secret("alice@example.org", KeyKind::smime, err).size() == 1) ++found;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(found.load(), 200);
}

// A change made through another store on the same database (another process on the
// keys.db file, another node on PostgreSQL) is seen by this store's cached lookups.
TEST_P(StoreTest, ChangeThroughAnotherStoreIsSeen) {
  auto alice = make_identity("alice@example.org");
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->find_public("alice@example.org", KeyKind::smime, err).empty());  // cached
  auto other = KeyStore::open(db(), MasterKey::load(dir_.path() / "master.key").value(),
                              [this] { return now_; });
  ASSERT_TRUE(other) << other.error();
  {
    auto w = other.value()->begin_write();
    ASSERT_TRUE(w) << w.error();
    ASSERT_TRUE(w->add_secret_key("alice@example.org", alice.cert.get(), alice.key.get(), {}));
    ASSERT_TRUE(w->commit());
  }
  EXPECT_EQ(store_->find_public("alice@example.org", KeyKind::smime, err).size(), 1u);
  EXPECT_EQ(store_->find_secret("alice@example.org", KeyKind::smime, err).size(), 1u);
  {
    auto w = other.value()->begin_write();
    ASSERT_TRUE(w->remove_address("alice@example.org"));
    ASSERT_TRUE(w->commit());
  }
  EXPECT_TRUE(store_->find_public("alice@example.org", KeyKind::smime, err).empty());
  EXPECT_FALSE(err);
}

// Two writers at once: each transaction is all or nothing, none is lost.
TEST_P(StoreTest, ConcurrentWritersFromTwoStores) {
  auto other = KeyStore::open(db(), MasterKey::load(dir_.path() / "master.key").value(),
                              [this] { return now_; });
  ASSERT_TRUE(other) << other.error();
  std::vector<Identity> ids;
  for (int i = 0; i < 8; ++i)
    ids.push_back(make_identity("u" + std::to_string(i) + "@example.org"));
  auto write = [&](KeyStore* s, int from) {
    for (int i = from; i < 8; i += 2) {
      auto w = s->begin_write();
      ASSERT_TRUE(w) << w.error();
      auto addr = "u" + std::to_string(i) + "@example.org";
      ASSERT_TRUE(w->add_secret_key(addr, ids[i].cert.get(), ids[i].key.get(), {}));
      ASSERT_TRUE(w->commit());
    }
  };
  std::thread a(write, store_.get(), 0), b(write, other.value().get(), 1);
  a.join();
  b.join();
  EXPECT_EQ(store_->list()->size(), 8u);
  EXPECT_EQ(count("secret_keys"), 8);
}

// A second `keys init` on a database that already holds a store is refused (PostgreSQL:
// another node initialised it; SQLite: the file exists).
TEST_P(StoreTest, CreateOverExistingStoreRefused) {
  auto again = KeyStore::create(db(), MasterKey::generate().value());
  ASSERT_FALSE(again);
}

INSTANTIATE_TEST_SUITE_P(Backend, StoreTest, ::testing::Values(Kind::sqlite, Kind::postgresql),
                         [](const auto& info) {
                           return info.param == Kind::sqlite ? "sqlite" : "postgresql";
                         });

// PostgreSQL only: the server going away and coming back.
TEST(StorePostgresql, ServerDownIsSourceErrorAndStoreReconnects) {
  auto& server = PgTestServer::get();
  TempDir dir;
  auto where = StoreLocation::postgres({server.new_database()});
  where.refresh = std::chrono::milliseconds(0);
  auto s = KeyStore::create(where, MasterKey::create(dir.path() / "master.key").value(),
                            [] { return kNow + 3600; });
  ASSERT_TRUE(s) << s.error();
  auto& store = *s.value();
  auto alice = make_identity("alice@example.org");
  {
    auto w = store.begin_write();
    ASSERT_TRUE(w->add_secret_key("alice@example.org", alice.cert.get(), alice.key.get(), {}));
    ASSERT_TRUE(w->commit());
  }
  std::optional<SourceError> err;
  ASSERT_EQ(store.find_public("alice@example.org", KeyKind::smime, err).size(), 1u);
  server.stop();
  EXPECT_TRUE(store.find_public("alice@example.org", KeyKind::smime, err).empty());
  ASSERT_TRUE(err);
  EXPECT_EQ(err->source, "postgresql");
  EXPECT_NE(err->reason.find("database:"), std::string::npos) << err->reason;
  err.reset();
  EXPECT_FALSE(store.begin_write());
  server.start();
  // The pooled connections died with the server: the store connects anew by itself.
  EXPECT_EQ(store.find_public("alice@example.org", KeyKind::smime, err).size(), 1u);
  EXPECT_FALSE(err) << err->reason;
  EXPECT_EQ(store.find_secret("alice@example.org", KeyKind::smime, err).size(), 1u);
  auto w = store.begin_write();
  ASSERT_TRUE(w) << w.error();
  EXPECT_TRUE(w->commit());
}

// A server that does not answer (here: the write lock held by another node's open
// transaction) fails the statement at the deadline instead of stalling the caller.
TEST(StorePostgresql, StatementWithoutAnswerFailsAtTheDeadline) {
  TempDir dir;
  sql::PgSettings settings{PgTestServer::get().new_database()};
  settings.connect_timeout = std::chrono::seconds(1);
  auto where = StoreLocation::postgres(settings);
  auto s = KeyStore::create(where, MasterKey::create(dir.path() / "master.key").value(),
                            [] { return kNow + 3600; });
  ASSERT_TRUE(s) << s.error();
  auto holder = sql::PgConnection::connect(settings);
  ASSERT_TRUE(holder) << holder.error();
  ASSERT_TRUE(holder.value()->begin_write());
  auto started = std::chrono::steady_clock::now();
  auto w = s.value()->begin_write();
  auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("no answer within 1s"), std::string::npos) << w.error();
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(5));
  ASSERT_TRUE(holder.value()->exec("ROLLBACK"));
  // The abandoned connection is not reused: the next write gets a fresh one.
  auto again = s.value()->begin_write();
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->commit());
  std::optional<SourceError> err;
  s.value()->find_public("x@example.org", KeyKind::smime, err);
  EXPECT_FALSE(err) << err->reason;
}

// Another node's (or process's) change is seen within `refresh`, not before: the
// staleness bound that docs/KEYS.md promises, and the round trips it saves. With each
// backend's default interval.
TEST_P(StoreTest, OtherStoresChangesSeenWithinRefresh) {
  TempDir dir;
  auto where = pg() ? StoreLocation::postgres({PgTestServer::get().new_database()})
                    : StoreLocation(dir.path() / "keys.db");
  EXPECT_EQ(where.refresh.count(), pg() ? 1000 : 10);
  auto a = KeyStore::create(where, MasterKey::create(dir.path() / "master.key").value(),
                            [] { return kNow + 3600; });
  ASSERT_TRUE(a) << a.error();
  auto b = KeyStore::open(where, MasterKey::load(dir.path() / "master.key").value(),
                          [] { return kNow + 3600; });
  ASSERT_TRUE(b) << b.error();
  std::optional<SourceError> err;
  EXPECT_TRUE(b.value()->find_public("bob@example.org", KeyKind::smime, err).empty());
  auto bob = make_identity("bob@example.org");
  auto w = a.value()->begin_write();
  ASSERT_TRUE(w->add_certificate("bob@example.org", bob.cert.get()));
  ASSERT_TRUE(w->commit());
  // Within the interval B still answers from its cache...
  EXPECT_TRUE(b.value()->find_public("bob@example.org", KeyKind::smime, err).empty());
  std::this_thread::sleep_for(where.refresh + std::chrono::milliseconds(100));
  // ...and after it, B has looked at the change counter and reads afresh.
  EXPECT_EQ(b.value()->find_public("bob@example.org", KeyKind::smime, err).size(), 1u);
  EXPECT_FALSE(err);
}

// An address with a NUL byte never matches the address before it (PostgreSQL text
// parameters are C strings: the value must not be cut short).
TEST_P(StoreTest, AddressWithNulMatchesNothing) {
  add_cert("alice@example.org", make_identity("alice@example.org"));
  std::optional<SourceError> err;
  EXPECT_TRUE(
      store_->find_public(std::string("alice@example.org\0x", 19), KeyKind::smime, err).empty());
}

TEST(PgPlaceholders, RewrittenOutsideQuotesOnly) {
  EXPECT_EQ(sql::pg_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?3\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?3\" = $12");
  EXPECT_EQ(sql::pg_placeholders("SELECT 'it''s ?1', ?2"), "SELECT 'it''s ?1', $2");
  EXPECT_EQ(sql::pg_placeholders("SELECT ?"), "SELECT ?");
}

}  // namespace
}  // namespace mailseal::keys
