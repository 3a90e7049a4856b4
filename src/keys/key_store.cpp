// KeyStore: opening/creating the store and the read side (KeySource lookups, listing).
// The write side (Writer, reseal_all) is in key_store_writer.cpp.

#include "keys/key_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "keys/schema.h"
#include "keys/sqlite_db.h"
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

namespace {

sql::Pool::Connect connector(const StoreLocation& where) {
  if (where.kind == StoreLocation::Kind::sqlite)
    return [file = where.file] { return sql::SqliteConnection::open(file); };
  return [settings = where.postgresql] { return sql::PgConnection::connect(settings); };
}

}  // namespace

KeyStore::KeyStore(StoreLocation where, std::optional<MasterKey> master, Clock now,
                   KeyCacheLimits cache)
    : where_(std::move(where)),
      pool_(connector(where_), std::max<std::size_t>(where_.pool_size, 1)),
      master_(std::move(master)),
      now_(now ? now : Clock(system_now)),
      public_cache_(cache.capacity, cache.ttl),
      secret_cache_(cache.capacity, cache.ttl),
      key_cache_(cache.capacity, cache.ttl),
      anchor_cache_(cache.capacity ? 1 : 0, cache.ttl),
      crl_cache_(cache.capacity ? 1 : 0, cache.ttl) {}

Result<std::unique_ptr<KeyStore>> KeyStore::create(const StoreLocation& where, MasterKey master,
                                                   Clock now, KeyCacheLimits cache) {
  if (where.kind == StoreLocation::Kind::sqlite) {
    // SQLite would create the file 0644; the database holds (sealed) secrets and the list
    // of correspondents, so it is created here first, private, and never over an old one.
    int fd = ::open(where.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fail("cannot create key database " + where.file.string() + ": " +
                  std::strerror(errno));
    }
    ::close(fd);
  }
  auto id = master.id();
  std::unique_ptr<KeyStore> s(new KeyStore(where, std::move(master), now, cache));
  auto lease = s->pool_.acquire();
  if (!lease) return lease.take_error();
  if (auto st = sql::migrate(*lease.value()); !st) return st.take_error();
  // A shared database may already hold a store (another node ran init): never take it over.
  auto q = lease.value()->prepare(
      "INSERT INTO meta (key, value) VALUES ('master_key_id', ?1) ON CONFLICT DO NOTHING");
  if (!q) return q.take_error();
  if (auto st = q->bind(1, id).run(); !st) return st.take_error();
  if (lease.value()->changes() != 1)
    return fail("key store already initialised in " + where.describe() +
                " (copy the master key file of a node that uses it instead)");
  return s;
}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const StoreLocation& where,
                                                 std::optional<MasterKey> master, Clock now,
                                                 KeyCacheLimits cache) {
  std::error_code ec;
  if (where.kind == StoreLocation::Kind::sqlite &&
      !std::filesystem::is_regular_file(where.file, ec)) {
    return fail("key database " + where.file.string() +
                " does not exist (run `mailseal keys init`)");
  }
  std::optional<std::string> expected_id;
  if (master) expected_id = master->id();
  std::unique_ptr<KeyStore> s(new KeyStore(where, std::move(master), now, cache));
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

Result<std::string> KeyStore::master_key_id() {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare("SELECT value FROM meta WHERE key = 'master_key_id'");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value())
    return fail("the key database records no master key (run `mailseal keys init`)");
  return q->text(0);
}

SourceError KeyStore::database_error(std::string reason) {
  if (!down_.exchange(true) && outage_log_)
    outage_log_(true, "key source " + name() + " (" + where_.describe() + "): " + reason +
                          "; mail that needs it is deferred (451) until it is back");
  return SourceError{name(), std::move(reason)};
}

void KeyStore::database_ok() {
  if (down_.exchange(false) && outage_log_)
    outage_log_(false, "key source " + name() + " (" + where_.describe() + "): reachable again");
}

Result<MasterKey*> KeyStore::master() {
  if (!master_) return fail("the master key is not loaded");
  return &*master_;
}

// ---- the parsed-key cache (key_cache.h) -------------------------------------------------

// All certificates filed under one address and kind, whatever their dates, newest first.
struct KeyStore::PublicRows {
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
struct KeyStore::SecretRows {
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
struct KeyStore::UnsealedKey {
  crypto::PKeyPtr key;  // S/MIME
  SecretBytes openpgp;  // OpenPGP transferable secret key, wiped when the entry goes
};

struct KeyStore::Anchors {
  std::vector<crypto::X509Ptr> certs;
};
struct KeyStore::Crls {
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

void KeyStore::invalidate_cache() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  public_cache_.clear();
  secret_cache_.clear();
  key_cache_.clear();
  anchor_cache_.clear();
  crl_cache_.clear();
}

Result<std::uint64_t> KeyStore::sync_cache() {
  std::lock_guard lock(watch_mu_);
  // At most every `refresh` (StoreLocation): PostgreSQL's counter is a round trip, and
  // SQLite's a read transaction (file locks). This process's own writes invalidate the
  // cache at once (key_store_writer.cpp).
  const auto now = std::chrono::steady_clock::now();
  if (watch_version_ && now - watched_at_ < where_.refresh)
    return generation_.load(std::memory_order_acquire);
  if (!watch_) {
    auto lease = pool_.acquire();
    if (!lease) return lease.take_error();
    watch_.emplace(std::move(lease).value());
  }
  auto v = (*watch_)->change_counter();
  if (!v) {
    watch_.reset();
    watch_version_.reset();
    return v.take_error();
  }
  watched_at_ = now;
  database_ok();
  // A new watch connection has nothing to compare with: start afresh to be safe.
  if (watch_version_ != v.value()) {
    watch_version_ = v.value();
    invalidate_cache();
  }
  return generation_.load(std::memory_order_acquire);
}

Result<std::shared_ptr<const KeyStore::PublicRows>> KeyStore::public_rows(
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

Result<std::shared_ptr<const KeyStore::SecretRows>> KeyStore::secret_rows(
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

std::vector<PublicKeyRecord> KeyStore::find_public(std::string_view address, KeyKind kind,
                                                   std::optional<SourceError>& error) {
  std::vector<PublicKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<PublicKeyRecord>{};
  };
  auto db_err = [&](std::string reason) {
    error = database_error(std::move(reason));
    return std::vector<PublicKeyRecord>{};
  };
  auto generation = sync_cache();
  if (!generation) return db_err(generation.error());
  const std::int64_t now = now_();
  auto rows = public_rows(normalise_address(address), kind, generation.value(), now);
  if (!rows) return db_err(rows.error());
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

std::vector<SecretKeyRecord> KeyStore::find_secret(std::string_view address, KeyKind kind,
                                                   std::optional<SourceError>& error) {
  return secrets(address, kind, true, nullptr, error);
}

std::vector<SecretKeyRecord> KeyStore::find_secret_for(std::string_view address, KeyKind kind,
                                                       const std::function<bool(X509*)>& wanted,
                                                       std::optional<SourceError>& error) {
  return secrets(address, kind, true, &wanted, error);
}

std::vector<SecretKeyRecord> KeyStore::find_secret_any_validity(std::string_view address,
                                                                KeyKind kind,
                                                                std::optional<SourceError>& error) {
  return secrets(address, kind, false, nullptr, error);
}

std::vector<SecretKeyRecord> KeyStore::secrets(std::string_view address, KeyKind kind,
                                               bool valid_only,
                                               const std::function<bool(X509*)>* wanted,
                                               std::optional<SourceError>& error) {
  std::vector<SecretKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<SecretKeyRecord>{};
  };
  auto db_err = [&](std::string reason) {
    error = database_error(std::move(reason));
    return std::vector<SecretKeyRecord>{};
  };
  std::shared_lock lock(master_mu_);
  if (!master_) return err("the master key is not loaded");
  auto generation = sync_cache();
  if (!generation) return db_err(generation.error());
  const std::int64_t now = now_();
  auto rows = secret_rows(normalise_address(address), kind, generation.value(), now);
  if (!rows) return db_err(rows.error());
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

std::vector<crypto::X509Ptr> KeyStore::trust_anchors(std::optional<SourceError>& error) {
  auto generation = sync_cache();
  if (!generation) {
    error = database_error(generation.error());
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
      error = database_error(*failed);
      return {};
    }
    cached = std::move(anchors);
    anchor_cache_.put("anchors", generation.value(), generation_, now, cached);
  }
  std::vector<crypto::X509Ptr> out;
  for (const auto& c : cached->certs) out.push_back(crypto::share(c.get()));
  return out;
}

std::vector<crypto::X509CrlPtr> KeyStore::crls(std::optional<SourceError>& error) {
  auto generation = sync_cache();
  if (!generation) {
    error = database_error(generation.error());
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
      error = database_error(*failed);
      return {};
    }
    cached = std::move(crls);
    crl_cache_.put("crls", generation.value(), generation_, now, cached);
  }
  std::vector<crypto::X509CrlPtr> out;
  for (const auto& c : cached->crls) out.push_back(crypto::share(c.get()));
  return out;
}

std::vector<PublicKeyRecord> KeyStore::find_openpgp_by_id(std::string_view key_id,
                                                          std::optional<SourceError>& error) {
  std::string id(key_id);
  for (char& c : id)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  std::vector<PublicKeyRecord> out;
  auto lease = pool_.acquire();
  // Asked for every signed OpenPGP message (and again by the gateway's check of its kept
  // keyring): the statement stays prepared on the pooled connection.
  auto q = lease ? lease.value()->prepare_cached(
                       "SELECT c.address, c.fingerprint, c.data FROM certificates c "
                       "WHERE c.kind = 'openpgp' AND c.id IN (SELECT certificate_id FROM "
                       "openpgp_key_ids WHERE key_id = ?1 OR fingerprint = ?1) "
                       "ORDER BY c.not_before DESC")
                 : Result<sql::Stmt>(lease.take_error());
  if (!q) {
    error = database_error(q.error());
    return {};
  }
  q->bind(1, id);
  for (;;) {
    auto row = q->step();
    if (!row) {
      error = database_error(row.error());
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

Result<std::string> KeyStore::openpgp_public(std::string_view fingerprint) {
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

Result<std::vector<CertificateInfo>> KeyStore::list(std::string_view address) {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare(
      "SELECT c.address, c.kind, c.algorithm, c.fingerprint, c.not_before, c.not_after, "
      "CASE WHEN s.id IS NULL THEN 0 ELSE 1 END FROM certificates c LEFT JOIN secret_keys s ON "
      "s.certificate_id = c.id "
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

Result<std::vector<AnchorInfo>> KeyStore::list_trust_anchors() {
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
