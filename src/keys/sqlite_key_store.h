// SqliteKeyStore: mailseal's embedded key store (keys.db under the state directory).
// Owns certificates per address, secret keys sealed under the MasterKey, trust anchors,
// CRLs and the internal CA. Every change runs in one transaction (Writer): all or nothing.
//
// Lookups go through a cache of parsed keys (key_cache.h, docs/KEYS.md "Key cache"): a
// certificate or secret key is read, unsealed and parsed once, then shared until the store
// changes (any writer, any process: PRAGMA data_version is checked on every lookup), its
// entry is older than the TTL, or it falls out of the LRU. Validity dates are checked
// against the clock on every lookup, cached or not.
//
// Threads: one connection per concurrent caller, from a small pool. WAL mode lets many
// readers run in parallel with one writer; writers serialise on SQLite's write lock
// (BEGIN IMMEDIATE, busy timeout 5 s). The master key is read-only after open, except
// for reseal_all(), which takes an exclusive lock against find_secret().
#pragma once

#include <atomic>
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
#include "keys/result.h"
#include "keys/secret_bytes.h"
#include "keys/sqlite_db.h"

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

class SqliteKeyStore final : public KeySource {
 public:
  // Creates keys.db (mode 0600, O_EXCL) with the schema and records the master key's id.
  static Result<std::unique_ptr<SqliteKeyStore>> create(const std::filesystem::path& db,
                                                        MasterKey master, Clock now = {},
                                                        KeyCacheLimits cache = {});
  // Opens an existing store. Without a master key only public data is usable; with one,
  // its id must match the one recorded in the database.
  static Result<std::unique_ptr<SqliteKeyStore>> open(const std::filesystem::path& db,
                                                      std::optional<MasterKey> master,
                                                      Clock now = {}, KeyCacheLimits cache = {});

  // KeySource. find_* return only certificates valid now, newest (not_before) first.
  std::string name() const override { return "sqlite"; }
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
    friend class SqliteKeyStore;
    Writer(SqliteKeyStore* s, sql::Pool::Lease lease);
    SqliteKeyStore* store_;
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

  // Drops every cached key (Writer::commit and reseal_all call it; a change made by another
  // process is noticed through PRAGMA data_version).
  void invalidate_cache();

  // Re-encrypts every sealed blob under `next` and records its id, in one transaction.
  // Afterwards this store uses `next`. The caller makes the key file match (key_admin).
  Status reseal_all(MasterKey next);

 private:
  SqliteKeyStore(std::filesystem::path db, std::optional<MasterKey> master, Clock now,
                 KeyCacheLimits cache);
  std::vector<SecretKeyRecord> secrets(std::string_view address, KeyKind kind, bool valid_only,
                                       const std::function<bool(X509*)>* wanted,
                                       std::optional<SourceError>& error);
  Result<MasterKey*> master();

  // Cache (defined in sqlite_key_store.cpp).
  struct PublicRows;
  struct SecretRows;
  struct UnsealedKey;
  struct Anchors;
  struct Crls;
  // Checks PRAGMA data_version (invalidating on a change) and returns the generation to
  // tag what is read next.
  Result<std::uint64_t> sync_cache();
  Result<std::shared_ptr<const PublicRows>> public_rows(const std::string& address, KeyKind kind,
                                                        std::uint64_t generation, std::int64_t now);
  Result<std::shared_ptr<const SecretRows>> secret_rows(const std::string& address, KeyKind kind,
                                                        std::uint64_t generation, std::int64_t now);

  sql::Pool pool_;
  std::optional<MasterKey> master_;
  std::shared_mutex master_mu_;
  Clock now_;

  std::atomic<std::uint64_t> generation_{0};
  std::mutex watch_mu_;
  std::optional<sql::Pool::Lease> watch_;  // a connection kept for PRAGMA data_version
  std::optional<std::int64_t> watch_version_;
  LruTable<PublicRows> public_cache_;
  LruTable<SecretRows> secret_cache_;
  LruTable<UnsealedKey> key_cache_;
  LruTable<Anchors> anchor_cache_;
  LruTable<Crls> crl_cache_;
};

const char* kind_name(KeyKind k);

}  // namespace mailseal::keys
