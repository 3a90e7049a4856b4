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

SqliteKeyStore::SqliteKeyStore(std::filesystem::path db, std::optional<MasterKey> master, Clock now)
    : pool_(std::move(db)), master_(std::move(master)), now_(now ? now : Clock(system_now)) {}

Result<std::unique_ptr<SqliteKeyStore>> SqliteKeyStore::create(const std::filesystem::path& db,
                                                               MasterKey master, Clock now) {
  // SQLite would create the file 0644; the database holds (sealed) secrets and the list
  // of correspondents, so it is created here first, private, and never over an old one.
  int fd = ::open(db.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail("cannot create key database " + db.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  auto id = master.id();
  std::unique_ptr<SqliteKeyStore> s(new SqliteKeyStore(db, std::move(master), now));
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
                                                             Clock now) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) {
    return fail("key database " + db.string() + " does not exist (run `mailseal keys init`)");
  }
  std::optional<std::string> expected_id;
  if (master) expected_id = master->id();
  std::unique_ptr<SqliteKeyStore> s(new SqliteKeyStore(db, std::move(master), now));
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

std::vector<PublicKeyRecord> SqliteKeyStore::find_public(std::string_view address, KeyKind kind,
                                                         std::optional<SourceError>& error) {
  std::vector<PublicKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<PublicKeyRecord>{};
  };
  auto lease = pool_.acquire();
  if (!lease) return err(lease.error());
  auto q = lease.value()->prepare(
      "SELECT address, fingerprint, data FROM certificates WHERE address = ?1 AND kind = ?2 "
      "AND not_before <= ?3 AND not_after > ?3 ORDER BY not_before DESC, id DESC");
  if (!q) return err(q.error());
  auto addr = normalise_address(address);
  q->bind(1, addr).bind(2, kind_name(kind)).bind(3, now_());
  for (;;) {
    auto row = q->step();
    if (!row) return err(row.error());
    if (!row.value()) break;
    PublicKeyRecord r;
    r.address = q->text(0);
    r.kind = kind;
    r.fingerprint = q->text(1);
    r.source = name();
    if (kind == KeyKind::smime) {
      r.cert = x509_from_der(q->blob(2));
      if (!r.cert) return err("stored certificate " + r.fingerprint + " does not parse");
    } else {
      r.openpgp = q->blob(2);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SecretKeyRecord> SqliteKeyStore::find_secret(std::string_view address, KeyKind kind,
                                                         std::optional<SourceError>& error) {
  return secrets(address, kind, true, error);
}

std::vector<SecretKeyRecord> SqliteKeyStore::find_secret_any_validity(
    std::string_view address, KeyKind kind, std::optional<SourceError>& error) {
  return secrets(address, kind, false, error);
}

std::vector<SecretKeyRecord> SqliteKeyStore::secrets(std::string_view address, KeyKind kind,
                                                     bool valid_only,
                                                     std::optional<SourceError>& error) {
  std::vector<SecretKeyRecord> out;
  auto err = [&](std::string reason) {
    error = SourceError{name(), std::move(reason)};
    return std::vector<SecretKeyRecord>{};
  };
  std::shared_lock lock(master_mu_);
  if (!master_) return err("the master key is not loaded");
  auto lease = pool_.acquire();
  if (!lease) return err(lease.error());
  auto q = lease.value()->prepare(
      "SELECT c.address, c.fingerprint, c.data, s.sealed, s.chain FROM certificates c "
      "JOIN secret_keys s ON s.certificate_id = c.id WHERE c.address = ?1 AND c.kind = ?2 "
      "AND (?4 = 0 OR (c.not_before <= ?3 AND c.not_after > ?3)) "
      "ORDER BY c.not_before DESC, c.id DESC");
  if (!q) return err(q.error());
  q->bind(1, normalise_address(address)).bind(2, kind_name(kind)).bind(3, now_());
  q->bind(4, std::int64_t{valid_only ? 1 : 0});
  for (;;) {
    auto row = q->step();
    if (!row) return err(row.error());
    if (!row.value()) break;
    SecretKeyRecord r;
    r.address = q->text(0);
    r.kind = kind;
    r.fingerprint = q->text(1);
    auto plain = master_->open(q->blob(3), record_aad("secret-key", r.address, r.fingerprint));
    if (!plain) return err("secret key for " + r.fingerprint + ": " + plain.error());
    if (kind == KeyKind::smime) {
      r.cert = x509_from_der(q->blob(2));
      r.key = private_key_from_der(plain.value());
      if (!r.cert || !r.key) return err("stored key " + r.fingerprint + " does not parse");
      r.chain = chain_from_der(q->blob(4));
    } else {
      r.openpgp.assign(plain->view());  // issue 4 will give this a wiped type of its own
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<crypto::X509Ptr> SqliteKeyStore::trust_anchors(std::optional<SourceError>& error) {
  std::vector<crypto::X509Ptr> out;
  auto lease = pool_.acquire();
  auto q = lease ? lease.value()->prepare("SELECT data FROM trust_anchors ORDER BY id")
                 : Result<sql::Stmt>(lease.take_error());
  if (!q) {
    error = SourceError{name(), q.error()};
    return {};
  }
  for (;;) {
    auto row = q->step();
    if (!row) {
      error = SourceError{name(), row.error()};
      return {};
    }
    if (!row.value()) break;
    if (auto c = x509_from_der(q->blob(0))) out.push_back(std::move(c));
  }
  return out;
}

std::vector<crypto::X509CrlPtr> SqliteKeyStore::crls(std::optional<SourceError>& error) {
  std::vector<crypto::X509CrlPtr> out;
  auto lease = pool_.acquire();
  auto q = lease ? lease.value()->prepare("SELECT data FROM crls ORDER BY id")
                 : Result<sql::Stmt>(lease.take_error());
  if (!q) {
    error = SourceError{name(), q.error()};
    return {};
  }
  for (;;) {
    auto row = q->step();
    if (!row) {
      error = SourceError{name(), row.error()};
      return {};
    }
    if (!row.value()) break;
    if (auto c = crl_from_der(q->blob(0))) out.push_back(std::move(c));
  }
  return out;
}

std::vector<PublicKeyRecord> SqliteKeyStore::find_openpgp_by_id(std::string_view key_id,
                                                                std::optional<SourceError>& error) {
  std::string id(key_id);
  for (char& c : id)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  std::vector<PublicKeyRecord> out;
  auto lease = pool_.acquire();
  auto q = lease ? lease.value()->prepare(
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
