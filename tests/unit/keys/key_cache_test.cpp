// The parsed-key cache of KeyStore: hits share the parsed objects; every kind of
// store change (this store's writer, another store object, a raw database connection) is
// seen by the next lookup; validity is checked on every hit; the TTL re-reads; only the
// wanted secret keys are opened; concurrent lookups and writes are safe (run under ASan).
// On both backends (PostgreSQL with refresh = 0: every lookup checks the change counter).
// Also the per-connection prepared statements of sql::Connection.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "keys/key_cache.h"
#include "keys/key_store.h"
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

class KeyCacheTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override { make_store({}); }
  void make_store(KeyCacheLimits limits) {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove(dir_.path() / "keys.db", ec);
    std::filesystem::remove(dir_.path() / "keys.db-wal", ec);
    std::filesystem::remove(dir_.path() / "keys.db-shm", ec);
    std::filesystem::remove(dir_.path() / "master.key", ec);
    if (pg()) {
      where_ = StoreLocation::postgres({PgTestServer::get().new_database()});
      where_.refresh = std::chrono::milliseconds(0);
    } else {
      where_ = StoreLocation(dir_.path() / "keys.db");
      where_.refresh = std::chrono::milliseconds(0);
    }
    auto s = KeyStore::create(
        db(), MasterKey::create(dir_.path() / "master.key").value(), [this] { return now_.load(); },
        limits);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s).value();
  }
  const StoreLocation& db() const { return where_; }
  bool pg() const { return GetParam() == Kind::postgresql; }
  void add_secret(KeyStore& s, const std::string& addr, const Identity& id) {
    auto w = s.begin_write();
    ASSERT_TRUE(w) << w.error();
    auto st = w->add_secret_key(addr, id.cert.get(), id.key.get(), {});
    ASSERT_TRUE(st) << st.error();
    ASSERT_TRUE(w->commit());
  }
  void add_secret(const std::string& addr, const Identity& id) { add_secret(*store_, addr, id); }
  void add_cert(const std::string& addr, const Identity& id) {
    auto w = store_->begin_write();
    ASSERT_TRUE(w->add_certificate(addr, id.cert.get()));
    ASSERT_TRUE(w->commit());
  }
  // A change by another program on its own connection. On PostgreSQL it bumps the change
  // counter in the same transaction, as every mailseal writer does (docs/KEYS.md: changes
  // made behind mailseal's back without it are seen after the cache TTL).
  void sql(std::string text) {
    auto c = pg() ? sql::PgConnection::connect(where_.postgresql)
                  : sql::SqliteConnection::open(where_.file);
    ASSERT_TRUE(c) << c.error();
    if (pg()) {
      for (auto at = text.find("zeroblob(64)"); at != std::string::npos; at = text.find("zeroblob"))
        text.replace(at, 12, "decode(repeat('00', 64), 'hex')");
      ASSERT_TRUE(c.value()->begin_write());
      text += "; COMMIT";
    }
    auto st = c.value()->exec(text);
    EXPECT_TRUE(st) << st.error();
  }
  std::size_t public_count(const std::string& addr) {
    std::optional<SourceError> err;
    auto r = store_->find_public(addr, KeyKind::smime, err);
    EXPECT_FALSE(err) << err->reason;
    return r.size();
  }
  std::size_t secret_count(const std::string& addr) {
    std::optional<SourceError> err;
    auto r = store_->find_secret(addr, KeyKind::smime, err);
    EXPECT_FALSE(err) << err->reason;
    return r.size();
  }

  TempDir dir_;
  StoreLocation where_;
  std::atomic<std::int64_t> now_ = kNow + 3600;
  std::unique_ptr<KeyStore> store_;
};

TEST_P(KeyCacheTest, HitReturnsTheSameParsedObjects) {
  auto alice = make_identity("alice@example.org");
  add_secret("alice@example.org", alice);
  std::optional<SourceError> err;
  auto s1 = store_->find_secret("alice@example.org", KeyKind::smime, err);
  auto s2 = store_->find_secret("alice@EXAMPLE.org", KeyKind::smime, err);
  ASSERT_FALSE(err);
  ASSERT_EQ(s1.size(), 1u);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s1[0].key.get(), s2[0].key.get());  // not parsed again: same EVP_PKEY
  EXPECT_EQ(s1[0].cert.get(), s2[0].cert.get());
  EXPECT_EQ(EVP_PKEY_eq(s1[0].key.get(), alice.key.get()), 1);
  auto p1 = store_->find_public("alice@example.org", KeyKind::smime, err);
  auto p2 = store_->find_public("alice@example.org", KeyKind::smime, err);
  ASSERT_EQ(p1.size(), 1u);
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(p1[0].cert.get(), p2[0].cert.get());
  EXPECT_EQ(X509_cmp(p1[0].cert.get(), alice.cert.get()), 0);
  // The records own references: dropping the cache leaves them usable.
  store_->invalidate_cache();
  EXPECT_EQ(X509_cmp(p1[0].cert.get(), alice.cert.get()), 0);
  auto p3 = store_->find_public("alice@example.org", KeyKind::smime, err);
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_NE(p3[0].cert.get(), p1[0].cert.get());  // re-read after invalidation
}

TEST_P(KeyCacheTest, WritesOfThisStoreAreSeenByTheNextLookup) {
  EXPECT_EQ(public_count("bob@example.org"), 0u);  // a miss is cached too
  auto bob = make_identity("bob@example.org");
  add_cert("bob@example.org", bob);
  EXPECT_EQ(public_count("bob@example.org"), 1u);
  EXPECT_EQ(secret_count("bob@example.org"), 0u);
  add_secret("bob@example.org", bob);
  EXPECT_EQ(secret_count("bob@example.org"), 1u);
  auto w = store_->begin_write();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->remove_address("bob@example.org"));
  ASSERT_TRUE(w->commit());
  EXPECT_EQ(public_count("bob@example.org"), 0u);
  EXPECT_EQ(secret_count("bob@example.org"), 0u);
}

TEST_P(KeyCacheTest, UncommittedWriteChangesNothing) {
  auto bob = make_identity("bob@example.org");
  add_cert("bob@example.org", bob);
  EXPECT_EQ(public_count("bob@example.org"), 1u);
  {
    auto w = store_->begin_write();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->remove_address("bob@example.org"));
  }  // rolled back
  EXPECT_EQ(public_count("bob@example.org"), 1u);
}

TEST_P(KeyCacheTest, ChangesByOtherConnectionsAreSeen) {
  auto alice = make_identity("alice@example.org");
  add_secret("alice@example.org", alice);
  EXPECT_EQ(public_count("alice@example.org"), 1u);
  EXPECT_EQ(secret_count("alice@example.org"), 1u);
  // Another process (`mailseal keys remove`): a plain database connection.
  sql("DELETE FROM certificates WHERE address = 'alice@example.org'");
  EXPECT_EQ(public_count("alice@example.org"), 0u);
  EXPECT_EQ(secret_count("alice@example.org"), 0u);
  // Another store object on the same file (`mailseal keys import`).
  auto other = KeyStore::open(db(), MasterKey::load(dir_.path() / "master.key").value(),
                              [this] { return now_.load(); });
  ASSERT_TRUE(other) << other.error();
  add_secret(*other.value(), "alice@example.org", alice);
  EXPECT_EQ(public_count("alice@example.org"), 1u);
  EXPECT_EQ(secret_count("alice@example.org"), 1u);
  // A sealed blob tampered with behind our back is refused, not served from the cache.
  sql("UPDATE secret_keys SET sealed = zeroblob(64)");
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->find_secret("alice@example.org", KeyKind::smime, err).empty());
  EXPECT_TRUE(err);
}

TEST_P(KeyCacheTest, ExpiredAtLookupTimeIsNotReturnedFromTheCache) {
  // Valid for one day from kNow: cache it a minute before it expires, then look again
  // at its not_after second (well inside the TTL).
  auto carol = make_identity("carol@example.org", kNow, 1);
  add_secret("carol@example.org", carol);
  std::int64_t not_after = 0;
  ASSERT_TRUE(to_unix(X509_get0_notAfter(carol.cert.get()), not_after));
  now_ = not_after - 30;
  EXPECT_EQ(public_count("carol@example.org"), 1u);
  EXPECT_EQ(secret_count("carol@example.org"), 1u);
  now_ = not_after;
  EXPECT_EQ(public_count("carol@example.org"), 0u);
  EXPECT_EQ(secret_count("carol@example.org"), 0u);
  std::optional<SourceError> err;
  // Decryption of old mail may still use it.
  EXPECT_EQ(store_->find_secret_any_validity("carol@example.org", KeyKind::smime, err).size(), 1u);
  // Not yet valid: the same in the other direction.
  std::int64_t not_before = 0;
  ASSERT_TRUE(to_unix(X509_get0_notBefore(carol.cert.get()), not_before));
  now_ = not_before;
  EXPECT_EQ(public_count("carol@example.org"), 1u);
  now_ = not_before - 1;
  EXPECT_EQ(public_count("carol@example.org"), 0u);
}

TEST_P(KeyCacheTest, EntriesAreReadAgainAfterTheTtl) {
  add_cert("dave@example.org", make_identity("dave@example.org"));
  std::optional<SourceError> err;
  auto a = store_->find_public("dave@example.org", KeyKind::smime, err);
  now_ += 59;
  auto b = store_->find_public("dave@example.org", KeyKind::smime, err);
  now_ += 1;  // 60 s after the entry was made
  auto c = store_->find_public("dave@example.org", KeyKind::smime, err);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(a[0].cert.get(), b[0].cert.get());
  EXPECT_NE(a[0].cert.get(), c[0].cert.get());
}

TEST_P(KeyCacheTest, LruBoundAndDisabledCache) {
  make_store(KeyCacheLimits{2, 60});
  for (const char* a : {"a@example.org", "b@example.org", "c@example.org"})
    add_cert(a, make_identity(a));
  std::optional<SourceError> err;
  auto first = store_->find_public("a@example.org", KeyKind::smime, err);
  (void)store_->find_public("b@example.org", KeyKind::smime, err);
  (void)store_->find_public("c@example.org", KeyKind::smime, err);  // evicts a@
  auto again = store_->find_public("a@example.org", KeyKind::smime, err);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(first[0].cert.get(), again[0].cert.get());

  make_store(KeyCacheLimits{0, 60});
  auto eve = make_identity("eve@example.org");
  add_secret("eve@example.org", eve);
  auto s1 = store_->find_secret("eve@example.org", KeyKind::smime, err);
  auto s2 = store_->find_secret("eve@example.org", KeyKind::smime, err);
  ASSERT_FALSE(err);
  ASSERT_EQ(s1.size(), 1u);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_NE(s1[0].key.get(), s2[0].key.get());
  EXPECT_EQ(EVP_PKEY_eq(s1[0].key.get(), s2[0].key.get()), 1);
}

TEST_P(KeyCacheTest, OnlyTheWantedSecretKeyIsOpened) {
  auto old_id = make_identity("frank@example.org", kNow - 100);
  auto new_id = make_identity("frank@example.org", kNow);
  add_secret("frank@example.org", old_id);
  add_secret("frank@example.org", new_id);
  // Break the newer key's blob: if it were opened, the lookup would fail.
  sql("UPDATE secret_keys SET sealed = zeroblob(64) WHERE certificate_id = "
      "(SELECT id FROM certificates WHERE fingerprint = '" +
      fingerprint(new_id.cert.get()) + "')");
  std::optional<SourceError> err;
  int asked = 0;
  auto found = store_->find_secret_for(
      "frank@example.org", KeyKind::smime,
      [&](X509* c) {
        ++asked;
        return X509_cmp(c, old_id.cert.get()) == 0;
      },
      err);
  ASSERT_FALSE(err) << err->reason;
  EXPECT_EQ(asked, 2);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq(found[0].key.get(), old_id.key.get()), 1);
  // Asking for all of them opens the broken one too.
  EXPECT_TRUE(store_->find_secret("frank@example.org", KeyKind::smime, err).empty());
  EXPECT_TRUE(err);
}

TEST_P(KeyCacheTest, TrustAnchorsFollowTheStore) {
  auto key = generate_key(KeyAlgorithm::p256).value();
  auto ca = make_ca_certificate(key.get(), "Test CA", {"example.org"}, {kNow, 100}).value();
  std::optional<SourceError> err;
  EXPECT_TRUE(store_->trust_anchors(err).empty());
  auto w = store_->begin_write();
  ASSERT_TRUE(w->add_trust_anchor(ca.get()));
  ASSERT_TRUE(w->commit());
  auto a1 = store_->trust_anchors(err);
  auto a2 = store_->trust_anchors(err);
  ASSERT_EQ(a1.size(), 1u);
  ASSERT_EQ(a2.size(), 1u);
  EXPECT_EQ(a1[0].get(), a2[0].get());
  sql("DELETE FROM trust_anchors");
  EXPECT_TRUE(store_->trust_anchors(err).empty());
  EXPECT_FALSE(err);
}

TEST_P(KeyCacheTest, ConcurrentLookupsAndWrites) {
  std::vector<Identity> ids;
  for (int i = 0; i < 4; ++i) {
    std::string a = "user" + std::to_string(i) + "@example.org";
    ids.push_back(make_identity(a));
    add_secret(a, ids.back());
  }
  std::atomic<bool> stop = false;
  std::atomic<int> failures = 0;
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t) {
    readers.emplace_back([&, t] {
      for (int n = 0; n < 300; ++n) {
        int i = (t + n) % 4;
        std::string a = "user" + std::to_string(i) + "@example.org";
        std::optional<SourceError> err;
        auto s = store_->find_secret(a, KeyKind::smime, err);
        auto p = store_->find_public(a, KeyKind::smime, err);
        if (err || s.size() != 1 || p.size() != 1 ||
            EVP_PKEY_eq(s[0].key.get(), ids[i].key.get()) != 1 ||
            X509_cmp(p[0].cert.get(), ids[i].cert.get()) != 0)
          ++failures;
        // Use the shared key: a signature check of the pair exercises the EVP_PKEY.
        if (!s.empty() && X509_check_private_key(s[0].cert.get(), s[0].key.get()) != 1) ++failures;
      }
    });
  }
  std::thread writer([&] {
    auto extra = make_identity("extra@example.org");
    for (int n = 0; n < 20 && !stop; ++n) {
      auto w = store_->begin_write();
      if (!w) continue;
      if (n % 2 == 0)
        (void)w->add_certificate("extra@example.org", extra.cert.get());
      else
        (void)w->remove_address("extra@example.org");
      (void)w->commit();
      std::this_thread::yield();
    }
  });
  for (auto& r : readers) r.join();
  stop = true;
  writer.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backend, KeyCacheTest, ::testing::Values(Kind::sqlite, Kind::postgresql),
                         [](const auto& info) {
                           return info.param == Kind::sqlite ? "sqlite" : "postgresql";
                         });

TEST(SqlConnection, PreparedStatementsAreKeptAndNotSharedWhileInUse) {
  TempDir dir;
  auto file = dir.path() / "t.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto c = sql::SqliteConnection::open(file);
  ASSERT_TRUE(c) << c.error();
  const char* q = "SELECT v FROM t WHERE v >= ?1 ORDER BY v";
  for (int round = 0; round < 3; ++round) {
    auto outer = c.value()->prepare_cached(q);
    ASSERT_TRUE(outer);
    outer->bind(1, std::int64_t{1});
    ASSERT_TRUE(outer->step().value());
    EXPECT_EQ(outer->integer(0), 1);
    {
      auto inner = c.value()->prepare_cached(q);  // in use above: a fresh statement
      ASSERT_TRUE(inner);
      inner->bind(1, std::int64_t{2});
      ASSERT_TRUE(inner->step().value());
      EXPECT_EQ(inner->integer(0), 2);
    }
    ASSERT_TRUE(outer->step().value());
    EXPECT_EQ(outer->integer(0), 2);
  }
  auto v1 = c.value()->change_counter();
  ASSERT_TRUE(v1);
  ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "INSERT INTO t VALUES (3)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto v2 = c.value()->change_counter();
  ASSERT_TRUE(v2);
  EXPECT_NE(v1.value(), v2.value());
}

}  // namespace
}  // namespace mailseal::keys
