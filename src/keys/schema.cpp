// Schema of keys.db. Addresses are stored normalised (normalise_address); times are
// seconds since the epoch; fingerprints are SHA-256 hex of the DER certificate.

#include "keys/schema.h"

namespace mailseal::keys::sql {
namespace {

// Version 1. Secret keys reference the certificate row they belong to and disappear with
// it (ON DELETE CASCADE), so no orphan key can outlive its certificate.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE certificates (
  id          INTEGER PRIMARY KEY,
  address     TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('smime', 'openpgp')),
  fingerprint TEXT NOT NULL,
  algorithm   TEXT NOT NULL,
  not_before  INTEGER NOT NULL,
  not_after   INTEGER NOT NULL,
  data        BLOB NOT NULL,
  added_at    INTEGER NOT NULL,
  UNIQUE (address, kind, fingerprint)
);
CREATE INDEX certificates_lookup ON certificates (address, kind, not_before);
CREATE INDEX certificates_fingerprint ON certificates (fingerprint);
CREATE TABLE secret_keys (
  id             INTEGER PRIMARY KEY,
  certificate_id INTEGER NOT NULL UNIQUE REFERENCES certificates (id) ON DELETE CASCADE,
  sealed         BLOB NOT NULL,
  chain          BLOB NOT NULL DEFAULT x'',
  added_at       INTEGER NOT NULL
);
CREATE TABLE trust_anchors (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL UNIQUE,
  subject     TEXT NOT NULL,
  not_after   INTEGER NOT NULL,
  data        BLOB NOT NULL,
  added_at    INTEGER NOT NULL
);
CREATE TABLE crls (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL UNIQUE,
  issuer      TEXT NOT NULL,
  this_update INTEGER NOT NULL,
  next_update INTEGER,
  data        BLOB NOT NULL,
  added_at    INTEGER NOT NULL
);
CREATE TABLE internal_ca (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint TEXT NOT NULL,
  domains     TEXT NOT NULL,
  data        BLOB NOT NULL,
  sealed      BLOB NOT NULL,
  added_at    INTEGER NOT NULL
);
)sql";

// Version 2 (OpenPGP, issue 4). An OpenPGP certificate row (kind 'openpgp') is found by
// address like an S/MIME one; signatures name their issuer by key ID or fingerprint of
// the primary key or of a subkey, so every (sub)key of the row is indexed here (upper-case
// hex fingerprint, key ID = its last 16 digits). Rows go with their certificate.
constexpr const char* kV2 = R"sql(
CREATE TABLE openpgp_key_ids (
  certificate_id INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
  fingerprint    TEXT NOT NULL,
  key_id         TEXT NOT NULL,
  UNIQUE (certificate_id, fingerprint)
);
CREATE INDEX openpgp_key_ids_key_id ON openpgp_key_ids (key_id);
CREATE INDEX openpgp_key_ids_fingerprint ON openpgp_key_ids (fingerprint);
)sql";

}  // namespace

namespace {

Result<std::int64_t> schema_version(Connection& db) {
  auto q = db.prepare("PRAGMA user_version");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row || !row.value()) return fail("database: cannot read schema version");
  return q->integer(0);
}

}  // namespace

Status migrate(Connection& db) {
  // Fast path without a write lock: opening an up-to-date store must not block writers.
  auto current = schema_version(db);
  if (!current) return current.take_error();
  if (current.value() == kSchemaVersion) return ok_status();
  Transaction tx(db);
  if (auto st = tx.begin(); !st) return st;
  auto version = schema_version(db);  // again under the lock: another process may have won
  if (!version) return version.take_error();
  if (version.value() > kSchemaVersion) {
    return fail("key database schema version " + std::to_string(version.value()) +
                " is newer than this mailseal supports (" + std::to_string(kSchemaVersion) + ")");
  }
  if (version.value() < 1) {
    if (auto st = db.exec(kV1); !st) return st;
  }
  if (version.value() < 2) {
    if (auto st = db.exec(kV2); !st) return st;
  }
  if (auto st = db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)); !st) {
    return st;
  }
  return tx.commit();
}

}  // namespace mailseal::keys::sql
