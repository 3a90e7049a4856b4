// KeyAdmin: the operator's key-management operations (`mailseal keys ...`) as a library,
// testable without the CLI: init, internal CA, generate, import, export, list, remove,
// master-key rotation. Owns the layout of the state directory (keys.db, master.key); the
// store may instead be in PostgreSQL (StatePaths::store), the master key is always a file.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/cert_builder.h"
#include "keys/key_store.h"
#include "keys/key_wrapper.h"
#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

struct StatePaths {
  StoreLocation store;               // <state>/keys.db, or a PostgreSQL database
  std::filesystem::path master_key;  // <state>/master.key unless placed elsewhere
  // `master_key` empty = inside the state directory.
  static StatePaths under(const std::filesystem::path& state_dir,
                          std::filesystem::path master_key = {});
};

struct CaOptions {
  std::vector<std::string> domains;  // internal domains; the CA may issue only for these
  KeyAlgorithm algorithm = KeyAlgorithm::rsa3072;
  int days = 3650;
  std::string common_name = "mailseal internal CA";
};

struct GenerateOptions {
  KeyAlgorithm algorithm = KeyAlgorithm::rsa3072;  // RSA: what every S/MIME peer reads
  bool self_signed = false;
  int days = 730;
};

// OpenPGP keys (issue 4): Ed25519 signing primary + Cv25519 encryption subkey by default.
enum class OpenpgpAlgorithm { ed25519, rsa3072 };
std::optional<OpenpgpAlgorithm> parse_openpgp_algorithm(std::string_view text);

struct OpenpgpGenerateOptions {
  OpenpgpAlgorithm algorithm = OpenpgpAlgorithm::ed25519;
  int days = 0;      // 0: the key does not expire (expiry is the operator's explicit choice)
  std::string name;  // user ID "name <address>"; empty: "<address>"
};

// True for ASCII-armored OpenPGP key blocks and binary transferable keys (first packet a
// public or secret key packet), as `gpg --export[-secret-keys]` and `sq` write them.
bool is_openpgp_data(std::string_view data);

struct ImportOptions {
  std::optional<std::string> address;   // file only under this address (must match cert)
  std::optional<std::string> key_file;  // contents of a separate PEM key file
};

class KeyAdmin {
 public:
  // Creates the state directory (0700), master key (0600) and the store (keys.db, or the
  // schema in PostgreSQL). Refuses to overwrite either: an existing master key may be the
  // only copy, and a PostgreSQL store already initialised belongs to other nodes.
  static Status init(const StatePaths& paths, Clock now = {});
  // Opens an initialised store; finishes or discards an interrupted key rotation. `kek`
  // unwraps a master key file wrapped by a token key (it must outlive the KeyAdmin).
  static Result<KeyAdmin> open(const StatePaths& paths, Clock now = {}, KeyWrapper* kek = nullptr);

  KeyStore& store() { return *store_; }

  Status ca_init(const CaOptions& options);
  Result<std::string> ca_certificate_pem();
  Result<CertificateInfo> generate(std::string_view address, const GenerateOptions& options);
  // Returns one summary line per thing imported. All or nothing.
  Result<std::vector<std::string>> import(std::string_view file, const ImportOptions& options,
                                          const SecretBytes* passphrase);
  // PEM of the newest valid certificate of an address (or of one fingerprint).
  Result<std::string> export_certificate(std::string_view address_or_fingerprint);
  // PKCS#12 (DER) with the newest valid secret key, encrypted under `passphrase`.
  // legacy = PBE-SHA1-3DES, for importers that cannot read AES/PBKDF2 (gpgsm 2.2).
  Result<std::string> export_pkcs12(std::string_view address, const SecretBytes& passphrase,
                                    bool legacy);
  Result<std::vector<CertificateInfo>> list(std::string_view address = {});

  // OpenPGP. generate: stored with its secret key (sealed like S/MIME keys). import() hands
  // OpenPGP data here: keys are filed under every valid user-ID address (or only under
  // options.address, which one must carry); protected secret keys need the passphrase;
  // a key already stored is merged with the new data (new signatures, revocations).
  Result<CertificateInfo> generate_openpgp(std::string_view address,
                                           const OpenpgpGenerateOptions& options);
  Result<std::vector<std::string>> import_openpgp(std::string_view data,
                                                  const ImportOptions& options,
                                                  const SecretBytes* passphrase);
  // ASCII-armored certificate: the newest valid one of an address, or one fingerprint.
  Result<std::string> export_openpgp(std::string_view address_or_fingerprint);
  // ASCII-armored secret key, protected with `passphrase` (AES-256, iterated S2K).
  Result<std::string> export_openpgp_secret(std::string_view address_or_fingerprint,
                                            const SecretBytes& passphrase);

  // An address (contains '@'), a SHA-256 certificate fingerprint (64 hex digits) or an
  // OpenPGP fingerprint (40 hex digits; a subkey's removes its whole key).
  Result<std::int64_t> remove(std::string_view address_or_fingerprint);
  // New master key: blobs re-encrypted in one transaction; key file replaced atomically.
  // A wrapped key file stays wrapped (by the same token key).
  Status rotate_master_key();
  // The master key file rewritten wrapped by `kek`, or plain again (unwrap, with the kek
  // given to open()). The key itself does not change, so keys.db is not touched; the new
  // file is verified before it replaces the old one.
  Status wrap_master_key(KeyWrapper& kek);
  Status unwrap_master_key();

 private:
  std::vector<std::string> openpgp_user_ids(const std::string& fingerprint);
  KeyAdmin(StatePaths p, std::unique_ptr<KeyStore> s, Clock now, KeyWrapper* kek)
      : paths_(std::move(p)), store_(std::move(s)), now_(std::move(now)), kek_(kek) {}
  // Writes `key` (wrapped by `kek` when given) to master.key.new, checks that it loads back
  // as the same key, then renames it over master.key.
  Status replace_key_file(const MasterKey& key, KeyWrapper* kek);
  StatePaths paths_;
  std::unique_ptr<KeyStore> store_;
  Clock now_;
  KeyWrapper* kek_ = nullptr;
};

// 64 hex digits (S/MIME SHA-256, OpenPGP v6) or 40 (OpenPGP v4).
bool is_fingerprint(std::string_view s);

}  // namespace mailseal::keys
