// SqliteKeyStore: opening/creating keys.db and the read side (KeySource lookups, listing).
// The write side (Writer, reseal_all) is in sqlite_key_writer.cpp.

#include "keys/sqlite_key_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "keys/schema.h"
#include "keys/x509_util.h"

namespace mailseal::keys {

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* kind_name(KeyKind k) {
  return k == KeyKind::smime ? "smime" : "openpgp";
}

SqliteKeyStore::SqliteKeyStore(std::filesystem::path db, std::optional<MasterKey> master, Clock now,
                               KeyCacheLimits cache)
    : pool_(std::move(db)),
      master_(std::move(master)),
      now_(now ? now : Clock(system_now)),
      public_cache_(cache.capacity, cache.ttl),
      secret_cache_(cache.capacity, cache.ttl),
      key_cache_(cache.capacity, cache.ttl),
      anchor_cache_(cache.capacity ? 1 : 0, cache.ttl),
      crl_cache_(cache.capacity ? 1 : 0, cache.ttl) {}

Result<std::unique_ptr<SqliteKeyStore>> SqliteKeyStore::create(const std::filesystem::path& db,
                                                               MasterKey master, Clock now,
                                                               KeyCacheLimits cache) {
  // SQLite would create the file 0644; the database holds (sealed) secrets and the list
  // of correspondents, so it is created here first, private, and never over an old one.
  int fd = ::open(db.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail("cannot create key database " + db.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  auto id = master.id();
  std::unique_ptr<SqliteKeyStore> s(new SqliteKeyStore(db, std::move(master), now, cache));
  auto lease = s->pool_.acquire();
  if (!lease) return lease.take_error();
  if (auto st = sql::migrate(*lease.value()); !st) return st.take_error();
  auto q = lease.value()->prepare("INSERT INTO meta (key, value) VALUES ('master_key_id', ?1)");
  if (!q) return q.take_error();
  if (auto st = q->bind(1, id).run(); !st) return st.take_error();
  return s;
}

Result<std::unique_ptr<SqliteKeyStore>> SqliteKeyStore::open(const std::filesystem::path& db,
                                                             std::optional<MasterKey> master,
                                                             Clock now, KeyCacheLimits cache) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) {
    return fail("key database " + db.string() + " does not exist (run `mailseal keys init`)");
  }
  std::optional<std::string> expected_id;
  if (master) expected_id = master->id();
  std::unique_ptr<SqliteKeyStore> s(new SqliteKeyStore(db, std::move(master), now, cache));
  auto lease = s->pool_.acquire();
  if (!lease) return lease.take_error();
  if (auto st = sql::migrate(*lease.value()); !st) return st.take_error();
  if (expected_id) {
    auto id = s->master_key_id();
    if (!id) return id.take_error();
    if (id.value() != *expected_id) {
      return fail("the master key file does not belong to this key database");
    }
  }
  return s;
}

Result<std::string> SqliteKeyStore::master_key_id() {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare("SELECT value FROM meta WHERE key = 'master_key_id'");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return fail("the key database records no master key");
  return q->text(0);
}

Result<MasterKey*> SqliteKeyStore::master() {
  if (!master_) return fail("the master key is not loaded");
  return &*master_;
}

// ---- the parsed-key cache (key_cache.h) -------------------------------------------------

// All certificates filed under one address and kind, whatever their dates, newest first.
struct SqliteKeyStore::PublicRows {
  struct Row {
    std::string address, fingerprint;
    std::int64_t not_before = 0, not_after = 0;
    crypto::X509Ptr cert;  // S/MIME; null if the stored DER does not parse
    std::string openpgp;   // OpenPGP transferable public key
  };
  std::vector<Row> rows;
};

// The certificates of an address that have a secret key, with the sealed blobs (still
// sealed: a key is opened only when it is asked for, see UnsealedKey).
struct SqliteKeyStore::SecretRows {
  struct Row {
    std::string address, fingerprint;
    std::int64_t not_before = 0, not_after = 0;
    crypto::X509Ptr cert;  // S/MIME; null if the stored DER does not parse
    std::vector<crypto::X509Ptr> chain;
    std::string sealed;
  };
  std::vector<Row> rows;
};

// One opened secret key.
struct SqliteKeyStore::UnsealedKey {
  crypto::PKeyPtr key;  // S/MIME
  SecretBytes openpgp;  // OpenPGP transferable secret key, wiped when the entry goes
};

struct SqliteKeyStore::Anchors {
  std::vector<crypto::X509Ptr> certs;
};
struct SqliteKeyStore::Crls {
  std::vector<crypto::X509CrlPtr> crls;
};

namespace {

bool valid_at(std::int64_t not_before, std::int64_t not_after, std::int64_t now) {
  return not_before <= now && now < not_after;
}

std::string cache_key(KeyKind kind, const std::string& address) {
  return std::string(kind_name(kind)) + '\n' + address;
}

// Runs a one-column BLOB query and hands each value to `f`; returns the error text, if any.
// Trust anchors and CRLs are read this way.
template <class F>
std::optional<std::string> for_each_blob(sql::Pool& pool, const char* query, F&& f) {
  auto lease = pool.acquire();
  auto q = lease ? lease.value()->prepare_cached(query) : Result<sql::Stmt>(lease.take_error());
  if (!q) return q.error();
  for (;;) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) return std::nullopt;
    f(q->blob(0));
  }
}

}  // namespace

void SqliteKeyStore::invalidate_cache() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  public_cache_.clear();
  secret_cache_.clear();
  key_cache_.clear();
  anchor_cache_.clear();
  crl_cache_.clear();
}

Result<std::uint64_t> SqliteKeyStore::sync_cache() {
  std::lock_guard lock(watch_mu_);
  if (!watch_) {
    auto lease = pool_.acquire();
    if (!lease) return lease.take_error();
    watch_.emplace(std::move(lease).value());
  }
  auto v = (*watch_)->data_version();
  if (!v) {
    watch_.reset();
    watch_version_.reset();
    return v.take_error();
  }
  // A new watch connection has nothing to compare with: start afresh to be safe.
  if (watch_version_ != v.value()) {
    watch_version_ = v.value();
    invalidate_cache();
  }
  return generation_.load(std::memory_order_acquire);
}

Result<std::shared_ptr<const SqliteKeyStore::PublicRows>> SqliteKeyStore::public_rows(
    const std::string& address, KeyKind kind, std::uint64_t generation, std::int64_t now) {
  const std::string key = cache_key(kind, address);
  if (auto hit = public_cache_.get(key, generation, now)) return hit;
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare_cached(
      "SELECT address, fingerprint, data, not_before, not_after FROM certificates "
      "WHERE address = ?1 AND kind = ?2 ORDER BY not_before DESC, id DESC");
  if (!q) return q.take_error();
  q->bind(1, address).bind(2, kind_name(kind));
  auto rows = std::make_shared<PublicRows>();
  for (;;) {
    auto row = q->step();
    if (!row) return row.take_error();
    if (!row.value()) break;
    PublicRows::Row r;
    r.address = q->text(0);
    r.fingerprint = q->text(1);
    r.not_before = q->integer(3);
    r.not_after = q->integer(4);
    if (kind == KeyKind::smime)
      r.cert = x509_from_der(q->blob(2));
    else
      r.openpgp = q->blob(2);
    rows->rows.push_back(std::move(r));
  }
  std::shared_ptr<const PublicRows> out = std::move(rows);
  public_cache_.put(key, generation, generation_, now, out);
  return out;
}

Result<std::shared_ptr<const SqliteKeyStore::SecretRows>> SqliteKeyStore::secret_rows(
    const std::string& address, KeyKind kind, std::uint64_t generation, std::int64_t now) {
  const std::string key = cache_key(kind, address);
  if (auto hit = secret_cache_.get(key, generation, now)) return hit;
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare_cached(
      "SELECT c.address, c.fingerprint, c.data, s.sealed, s.chain, c.not_before, c.not_after "
      "FROM certificates c JOIN secret_keys s ON s.certificate_id = c.id "
      "WHERE c.address = ?1 AND c.kind = ?2 ORDER BY c.not_before DESC, c.id DESC");
  if (!q) return q.take_error();
  q->bind(1, address).bind(2, kind_name(kind));
  auto rows = std::make_shared<SecretRows>();
  for (;;) {
    auto row = q->step();
    if (!row) return row.take_error();
    if (!row.value()) break;
    SecretRows::Row r;
    r.address = q->text(0);
    r.fingerprint = q->text(1);
    r.sealed = q->blob(3);
    r.not_before = q->integer(5);
    r.not_after = q->integer(6);
    if (kind == KeyKind::smime) {
      r.cert = x509_from_der(q->blob(2));
      r.chain = chain_from_der(q->blob(4));
    }
    rows->rows.push_back(std::move(r));
  }
  std::shared_ptr<const SecretRows> out = std::move(rows);
  secret_cache_.put(key, generation, generation_, now, out);
  return out;
}

// ---- KeySource lookups ---------------------------------------------------------------

std::vector<PublicKeyRecord> SqliteKeyStore::find_public(std::string_view address, KeyKind kind,
                                                         std::optional<SourceError>& error) {
  std::vector<PublicKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<PublicKeyRecord>{};
  };
  auto generation = sync_cache();
  if (!generation) return err(generation.error());
  const std::int64_t now = now_();
  auto rows = public_rows(normalise_address(address), kind, generation.value(), now);
  if (!rows) return err(rows.error());
  for (const auto& row : rows.value()->rows) {
    if (!valid_at(row.not_before, row.not_after, now)) continue;
    PublicKeyRecord r;
    r.address = row.address;
    r.kind = kind;
    r.fingerprint = row.fingerprint;
    r.source = name();
    if (kind == KeyKind::smime) {
      if (!row.cert) return err("stored certificate " + r.fingerprint + " does not parse");
      r.cert = crypto::share(row.cert.get());
    } else {
      r.openpgp = row.openpgp;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SecretKeyRecord> SqliteKeyStore::find_secret(std::string_view address, KeyKind kind,
                                                         std::optional<SourceError>& error) {
  return secrets(address, kind, true, nullptr, error);
}

std::vector<SecretKeyRecord> SqliteKeyStore::find_secret_for(
    std::string_view address, KeyKind kind, const std::function<bool(X509*)>& wanted,
    std::optional<SourceError>& error) {
  return secrets(address, kind, true, &wanted, error);
}

std::vector<SecretKeyRecord> SqliteKeyStore::find_secret_any_validity(
    std::string_view address, KeyKind kind, std::optional<SourceError>& error) {
  return secrets(address, kind, false, nullptr, error);
}

std::vector<SecretKeyRecord> SqliteKeyStore::secrets(std::string_view address, KeyKind kind,
                                                     bool valid_only,
                                                     const std::function<bool(X509*)>* wanted,
                                                     std::optional<SourceError>& error) {
  std::vector<SecretKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<SecretKeyRecord>{};
  };
  std::shared_lock lock(master_mu_);
  if (!master_) return err("the master key is not loaded");
  auto generation = sync_cache();
  if (!generation) return err(generation.error());
  const std::int64_t now = now_();
  auto rows = secret_rows(normalise_address(address), kind, generation.value(), now);
  if (!rows) return err(rows.error());
  for (const auto& row : rows.value()->rows) {
    if (valid_only && !valid_at(row.not_before, row.not_after, now)) continue;
    if (kind == KeyKind::smime) {
      if (!row.cert) return err("stored key " + row.fingerprint + " does not parse");
      if (wanted && !(*wanted)(row.cert.get())) continue;
    }
    const std::string key_id = cache_key(kind, row.address) + '\n' + row.fingerprint;
    auto opened = key_cache_.get(key_id, generation.value(), now);
    if (!opened) {
      auto plain =
          master_->open(row.sealed, record_aad("secret-key", row.address, row.fingerprint));
      if (!plain) return err("secret key for " + row.fingerprint + ": " + plain.error());
      auto k = std::make_shared<UnsealedKey>();
      if (kind == KeyKind::smime) {
        k->key = private_key_from_der(plain.value());
        if (!k->key) return err("stored key " + row.fingerprint + " does not parse");
      } else {
        k->openpgp = std::move(plain).value();
      }
      opened = std::move(k);
      key_cache_.put(key_id, generation.value(), generation_, now, opened);
    }
    SecretKeyRecord r;
    r.address = row.address;
    r.kind = kind;
    r.fingerprint = row.fingerprint;
    if (kind == KeyKind::smime) {
      r.cert = crypto::share(row.cert.get());
      r.key = crypto::share(opened->key.get());
      for (const auto& c : row.chain) r.chain.push_back(crypto::share(c.get()));
    } else {
      r.openpgp.assign(opened->openpgp.view());  // issue 4 will give this a wiped type of its own
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<crypto::X509Ptr> SqliteKeyStore::trust_anchors(std::optional<SourceError>& error) {
  auto generation = sync_cache();
  if (!generation) {
    error = SourceError{name(), generation.error()};
    return {};
  }
  const std::int64_t now = now_();
  auto cached = anchor_cache_.get("anchors", generation.value(), now);
  if (!cached) {
    auto anchors = std::make_shared<Anchors>();
    auto failed =
        for_each_blob(pool_, "SELECT data FROM trust_anchors ORDER BY id", [&](auto blob) {
          if (auto c = x509_from_der(blob)) anchors->certs.push_back(std::move(c));
        });
    if (failed) {
      error = SourceError{name(), *failed};
      return {};
    }
    cached = std::move(anchors);
    anchor_cache_.put("anchors", generation.value(), generation_, now, cached);
  }
  std::vector<crypto::X509Ptr> out;
  for (const auto& c : cached->certs) out.push_back(crypto::share(c.get()));
  return out;
}

std::vector<crypto::X509CrlPtr> SqliteKeyStore::crls(std::optional<SourceError>& error) {
  auto generation = sync_cache();
  if (!generation) {
    error = SourceError{name(), generation.error()};
    return {};
  }
  const std::int64_t now = now_();
  auto cached = crl_cache_.get("crls", generation.value(), now);
  if (!cached) {
    auto crls = std::make_shared<Crls>();
    auto failed = for_each_blob(pool_, "SELECT data FROM crls ORDER BY id", [&](auto blob) {
      if (auto c = crl_from_der(blob)) crls->crls.push_back(std::move(c));
    });
    if (failed) {
      error = SourceError{name(), *failed};
      return {};
    }
    cached = std::move(crls);
    crl_cache_.put("crls", generation.value(), generation_, now, cached);
  }
  std::vector<crypto::X509CrlPtr> out;
  for (const auto& c : cached->crls) out.push_back(crypto::share(c.get()));
  return out;
}

std::vector<PublicKeyRecord> SqliteKeyStore::find_openpgp_by_id(std::string_view key_id,
                                                                std::optional<SourceError>& error) {
  std::string id(key_id);
  for (char& c : id)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  std::vector<PublicKeyRecord> out;
  auto lease = pool_.acquire();
  // Asked for every signed OpenPGP message (and again by the gateway's check of its kept
  // keyring): the statement stays prepared on the pooled connection.
  auto q = lease ? lease.value()->prepare_cached(
                       "SELECT DISTINCT c.address, c.fingerprint, c.data FROM openpgp_key_ids k "
                       "JOIN certificates c ON c.id = k.certificate_id WHERE c.kind = 'openpgp' "
                       "AND (k.key_id = ?1 OR k.fingerprint = ?1) ORDER BY c.not_before DESC")
                 : Result<sql::Stmt>(lease.take_error());
  if (!q) {
    error = SourceError{name(), q.error()};
    return {};
  }
  q->bind(1, id);
  for (;;) {
    auto row = q->step();
    if (!row) {
      error = SourceError{name(), row.error()};
      return {};
    }
    if (!row.value()) break;
    PublicKeyRecord r;
    r.address = q->text(0);
    r.kind = KeyKind::openpgp;
    r.fingerprint = q->text(1);
    r.openpgp = q->blob(2);
    r.source = name();
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::string> SqliteKeyStore::openpgp_public(std::string_view fingerprint) {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare(
      "SELECT data FROM certificates WHERE kind = 'openpgp' AND fingerprint = ?1 "
      "ORDER BY id DESC LIMIT 1");
  if (!q) return q.take_error();
  std::string fp(fingerprint);
  for (char& c : fp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  q->bind(1, fp);
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return std::string();
  return q->blob(0);
}

Result<std::vector<CertificateInfo>> SqliteKeyStore::list(std::string_view address) {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare(
      "SELECT c.address, c.kind, c.algorithm, c.fingerprint, c.not_before, c.not_after, "
      "s.id IS NOT NULL FROM certificates c LEFT JOIN secret_keys s ON s.certificate_id = c.id "
      "WHERE ?1 = '' OR c.address = ?1 ORDER BY c.address, c.not_before DESC");
  if (!q) return q.take_error();
  q->bind(1, address.empty() ? std::string() : normalise_address(address));
  std::vector<CertificateInfo> out;
  for (;;) {
    auto row = q->step();
    if (!row) return row.take_error();
    if (!row.value()) break;
    out.push_back(
        CertificateInfo{q->text(0), q->text(1) == "smime" ? KeyKind::smime : KeyKind::openpgp,
                        q->text(2), q->text(3), q->integer(4), q->integer(5), q->integer(6) != 0});
  }
  return out;
}

Result<std::vector<AnchorInfo>> SqliteKeyStore::list_trust_anchors() {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare(
      "SELECT fingerprint, subject, not_after FROM trust_anchors ORDER BY subject");
  if (!q) return q.take_error();
  std::vector<AnchorInfo> out;
  for (;;) {
    auto row = q->step();
    if (!row) return row.take_error();
    if (!row.value()) break;
    out.push_back(AnchorInfo{q->text(0), q->text(1), q->integer(2)});
  }
  return out;
}

}  // namespace mailseal::keys
