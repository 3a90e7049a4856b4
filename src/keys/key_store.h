// KeyStore: mailseal's key store, in SQLite (keys.db under the state directory: one node)
// or in PostgreSQL (several nodes sharing keys and state). One implementation over the
// backend-neutral SQL layer (sql_db.h); the backends differ only in sqlite_db.cpp and
// pg_db.cpp. Owns certificates per address, secret keys sealed under the MasterKey, trust
// anchors, CRLs and the internal CA. Every change runs in one transaction (Writer): all
// or nothing.
//
// Lookups go through a cache of parsed keys (key_cache.h, docs/KEYS.md "Key cache"): a
// certificate or secret key is read, unsealed and parsed once, then shared until the store
// changes, its entry is older than the TTL, or it falls out of the LRU. Changes made
// elsewhere are noticed through the connection's change counter (SQLite's PRAGMA
// data_version, PostgreSQL's meta 'generation' row), read at most every `refresh` (10 ms
// and 1 s by default), so another process's or node's change is used here at most that
// much later. Validity
// dates are checked against the clock on every lookup, cached or not.
//
// Threads: one connection per concurrent caller, from a small pool. Readers run in
// parallel with one writer; writers serialise on the store's write lock (SQLite: BEGIN
// IMMEDIATE, busy timeout 5 s; PostgreSQL: the generation row). The master key is
// read-only after open, except for reseal_all(), which takes an exclusive lock against
// find_secret().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "keys/key_cache.h"
#include "keys/key_source.h"
#include "keys/master_key.h"
#include "keys/pg_db.h"
#include "keys/result.h"
#include "keys/secret_bytes.h"
#include "keys/sql_db.h"

namespace mailseal::keys {

using Clock = std::function<std::int64_t()>;  // seconds since the epoch (injectable)
std::int64_t system_now();

struct CertificateInfo {
  std::string address;
  KeyKind kind = KeyKind::smime;
  std::string algorithm;
  std::string fingerprint;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool has_secret = false;
  std::vector<std::string> user_ids;  // OpenPGP: the key's valid user IDs (filled by KeyAdmin)
};

// The listing entry of an S/MIME certificate (defined in x509_util.cpp); key is the
// certificate's key pair, wherever it lives (the store or a token).
CertificateInfo certificate_info(const std::string& address, X509* cert, EVP_PKEY* key,
                                 bool has_secret);

// One OpenPGP certificate as filed under an address (KeyAdmin derives it with RNP; the
// store only keeps it). not_after is the primary key's expiry (kNoExpiry when none), or
// not_before when the key is revoked, so date-filtered lookups never return it.
struct OpenpgpRow {
  std::string fingerprint;                    // primary key, hex (stored lower-case)
  std::vector<std::string> key_fingerprints;  // primary and subkeys, for find_openpgp_by_id
  std::string algorithm;                      // e.g. "ed25519+cv25519", "rsa3072+rsa3072"
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::string public_key;  // binary transferable public key
};
inline constexpr std::int64_t kNoExpiry = 253402300799;  // 9999-12-31T23:59:59Z

struct AnchorInfo {
  std::string fingerprint;
  std::string subject;
  std::int64_t not_after = 0;
};

struct InternalCa {
  crypto::X509Ptr cert;
  crypto::PKeyPtr key;
  std::vector<std::string> domains;
};

// Where the store lives: a SQLite file, or a PostgreSQL database ([keys] store).
struct StoreLocation {
  enum class Kind { sqlite, postgresql };
  Kind kind = Kind::sqlite;
  std::filesystem::path file;  // SQLite: keys.db
  sql::PgSettings postgresql;  // PostgreSQL: conninfo, password file, connect timeout
  std::size_t pool_size = 8;   // idle connections kept open
  // Change-counter check interval: how much later a change made through another
  // connection (another process, another node) may be used here. SQLite: 10 ms (a local
  // read transaction, still 2-3 % of a seal when done on every lookup; no `mailseal keys`
  // command finishes that fast). PostgreSQL: 1 s by default ([keys.postgresql] refresh).
  std::chrono::milliseconds refresh{10};

  StoreLocation() = default;
  StoreLocation(std::filesystem::path sqlite_file)  // NOLINT: implicit on purpose
      : file(std::move(sqlite_file)) {}
  static StoreLocation postgres(sql::PgSettings settings) {
    StoreLocation l;
    l.kind = Kind::postgresql;
    l.postgresql = std::move(settings);
    l.refresh = std::chrono::milliseconds(1000);
    return l;
  }
  // For messages: the file, or the conninfo (which never holds a password).
  std::string describe() const {
    return kind == Kind::sqlite ? file.string() : "postgresql \"" + postgresql.conninfo + "\"";
  }
};

class KeyStore final : public KeySource {
 public:
  // Creates the store with the schema and records the master key's id. SQLite: keys.db
  // (mode 0600, O_EXCL). PostgreSQL: in the (existing) database; refused if a store is
  // already recorded there.
  static Result<std::unique_ptr<KeyStore>> create(const StoreLocation& where, MasterKey master,
                                                  Clock now = {}, KeyCacheLimits cache = {});
  // Opens an existing store. Without a master key only public data is usable; with one,
  // its id must match the one recorded in the database.
  static Result<std::unique_ptr<KeyStore>> open(const StoreLocation& where,
                                                std::optional<MasterKey> master, Clock now = {},
                                                KeyCacheLimits cache = {});

  // KeySource. find_* return only certificates valid now, newest (not_before) first.
  // The name is the backend's, so a source error names what failed ("postgresql").
  std::string name() const override {
    return where_.kind == StoreLocation::Kind::sqlite ? "sqlite" : "postgresql";
  }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;
  std::vector<SecretKeyRecord> find_secret(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;
  // Unseals and parses only the keys whose certificate `wanted` accepts.
  std::vector<SecretKeyRecord> find_secret_for(std::string_view address, KeyKind kind,
                                               const std::function<bool(X509*)>& wanted,
                                               std::optional<SourceError>& error) override;
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<SourceError>& error) override;
  std::vector<crypto::X509CrlPtr> crls(std::optional<SourceError>& error) override;
  std::vector<PublicKeyRecord> find_openpgp_by_id(std::string_view key_id,
                                                  std::optional<SourceError>& error) override;

  // The stored public key bytes of an OpenPGP certificate by primary fingerprint, any
  // validity (listing, export, merging an updated key on import). Empty when absent.
  Result<std::string> openpgp_public(std::string_view fingerprint);

  // Like find_secret but also expired/not-yet-valid keys (newest first): decrypting mail
  // that was encrypted to a since-expired certificate is still legitimate; signing is not.
  std::vector<SecretKeyRecord> find_secret_any_validity(std::string_view address, KeyKind kind,
                                                        std::optional<SourceError>& error);

  // One write transaction. Nothing is visible to others until commit(); destroying an
  // uncommitted Writer rolls back, so an import that fails halfway changes nothing.
  class Writer {
   public:
    // Adding what is already there is not an error (imports are repeatable).
    Status add_certificate(std::string_view address, X509* cert);
    Status add_secret_key(std::string_view address, X509* cert, EVP_PKEY* key,
                          const std::vector<crypto::X509Ptr>& chain);
    // OpenPGP certificate under `address` (the caller checked that a valid user ID carries
    // it), with its secret key sealed like an S/MIME one when `secret` is given. Adding a
    // key that is already there updates it (new signatures, revocations, expiry).
    Status add_openpgp_key(std::string_view address, const OpenpgpRow& row,
                           const SecretBytes* secret);
    Status add_trust_anchor(X509* cert);
    Status add_crl(X509_CRL* crl);
    // Deletes the CRLs of the same issuer (by name) older than `crl` (by thisUpdate): a
    // downloaded CRL supersedes the previous ones, so they do not pile up (revocation_checker).
    Status supersede_crls(X509_CRL* crl);
    Status set_internal_ca(X509* cert, EVP_PKEY* key, const std::vector<std::string>& domains);
    Result<std::int64_t> remove_address(std::string_view address);
    Result<std::int64_t> remove_fingerprint(std::string_view fingerprint);
    Status commit();

   private:
    friend class KeyStore;
    Writer(KeyStore* s, sql::Pool::Lease lease);
    KeyStore* store_;
    sql::Pool::Lease lease_;  // declared before tx_: the transaction ends first
    sql::Transaction tx_;
  };
  Result<Writer> begin_write();

  Result<std::vector<CertificateInfo>> list(std::string_view address = {});
  Result<std::vector<AnchorInfo>> list_trust_anchors();
  // The internal CA with its secret key; an error if `ca init` has not been run.
  Result<InternalCa> internal_ca();
  bool has_master_key() const { return master_.has_value(); }
  // The id of the master key the database's blobs are sealed under (MasterKey::id()).
  Result<std::string> master_key_id();

  // Outages of the database (and recoveries) for the daemon log: once per outage at warn,
  // the recovery at info, naming the source and where it is (never a password: the
  // conninfo holds none). Lookups report the failure itself as a SourceError (451).
  using OutageLog = std::function<void(bool down, const std::string& text)>;
  void set_outage_log(OutageLog log) { outage_log_ = std::move(log); }

  // Drops every cached key (Writer::commit and reseal_all call it; a change made by another
  // process or node is noticed through the change counter).
  void invalidate_cache();

  // Re-encrypts every sealed blob under `next` and records its id, in one transaction.
  // Afterwards this store uses `next`. The caller makes the key file match (key_admin).
  Status reseal_all(MasterKey next);

 private:
  KeyStore(StoreLocation where, std::optional<MasterKey> master, Clock now, KeyCacheLimits cache);
  std::vector<SecretKeyRecord> secrets(std::string_view address, KeyKind kind, bool valid_only,
                                       const std::function<bool(X509*)>* wanted,
                                       std::optional<SourceError>& error);
  Result<MasterKey*> master();
  // The SourceError of a failed database read, reported to the outage log.
  SourceError database_error(std::string reason);
  void database_ok();

  // Cache (defined in key_store.cpp).
  struct PublicRows;
  struct SecretRows;
  struct UnsealedKey;
  struct Anchors;
  struct Crls;
  // Checks the change counter (invalidating on a change) at most every `refresh` and
  // returns the generation to tag what is read next.
  Result<std::uint64_t> sync_cache();
  Result<std::shared_ptr<const PublicRows>> public_rows(const std::string& address, KeyKind kind,
                                                        std::uint64_t generation, std::int64_t now);
  Result<std::shared_ptr<const SecretRows>> secret_rows(const std::string& address, KeyKind kind,
                                                        std::uint64_t generation, std::int64_t now);

  StoreLocation where_;
  sql::Pool pool_;
  std::optional<MasterKey> master_;
  std::shared_mutex master_mu_;
  Clock now_;

  std::atomic<std::uint64_t> generation_{0};
  std::mutex watch_mu_;
  std::optional<sql::Pool::Lease> watch_;  // a connection kept for the change counter
  std::optional<std::int64_t> watch_version_;
  std::chrono::steady_clock::time_point watched_at_;  // last successful check
  LruTable<PublicRows> public_cache_;
  LruTable<SecretRows> secret_cache_;
  LruTable<UnsealedKey> key_cache_;
  LruTable<Anchors> anchor_cache_;
  LruTable<Crls> crl_cache_;
  OutageLog outage_log_;
  std::atomic<bool> down_{false};
};

const char* kind_name(KeyKind k);

}  // namespace mailseal::keys
