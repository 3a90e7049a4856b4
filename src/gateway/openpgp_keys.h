// OpenPGP keys for the gateway filters: asks the key sources (in order) for an address's
// certificates and secret keys or for a signer's certificate by key ID, and loads them
// into an openpgp::Keyring.
//
// Importing a key into RNP checks its self-signatures (public-key operations), which cost
// far more than sealing or opening a 10 KB message. So the filters use a keyring kept per
// thread (RNP contexts are not thread-safe; each thread of the crypto pool and each I/O
// thread has its own), holding the keys earlier messages imported. The key sources are
// still asked on every message (they cache themselves and see every change of the
// store); the kept keyring is only a cache of *imports*, and these rules keep it from
// ever deciding anything the sources no longer say:
// * a message first gathers what the sources hold now (MessageKeySet) and sync() makes
//   the keyring hold exactly those bytes for those keys: a key whose stored bytes
//   changed (digest), or that reached an expiry date, is re-imported;
// * keys are chosen only among the message's own fingerprints (key_for_address with
//   `among`), never by scanning the keyring;
// * RNP picks decryption keys and signer certificates itself, so after each open or
//   verification trusted_result() checks that the keys it used are the message's own or
//   match what the sources return for the signature's key ID now; otherwise the filter
//   does the message again with a fresh keyring (the per-message behaviour of before);
// * the keyring is replaced after kRingTtl or kRingMaxKeys keys, so unsealed secret keys
//   stay in memory for a bounded, short time.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_source.h"
#include "openpgp/keyring.h"
#include "openpgp/verdict.h"

namespace mailseal::gateway {

// The keys one message may use, as the sources hold them now.
struct MessageKeySet {
  struct Blobs {
    std::vector<std::string> pub;
    std::vector<std::string> sec;  // unprotected secret keys: wiped on destruction
    Blobs() = default;
    Blobs(Blobs&&) = default;
    Blobs& operator=(Blobs&&) = default;
    ~Blobs();
  };
  std::map<std::string, Blobs> keys;  // primary fingerprint (upper-case hex) -> stored bytes
  std::map<std::string, std::vector<std::string>> signing;     // address -> secret-key fprs
  std::map<std::string, std::vector<std::string>> encryption;  // address -> certificate fprs
};

class OpenpgpKeys {
 public:
  explicit OpenpgpKeys(std::vector<keys::KeySource*> sources) : sources_(std::move(sources)) {}

  static constexpr std::chrono::seconds kRingTtl{60};
  static constexpr std::size_t kRingMaxKeys = 256;

  // A fresh keyring; nullopt only if RNP cannot create a context.
  static std::optional<openpgp::Keyring> new_keyring();

  // Imports the address's stored certificates (public) into `ring`. False on a source
  // error (reported in `error`); a certificate that does not parse is skipped.
  bool load_public(openpgp::Keyring& ring, const std::string& address,
                   std::optional<keys::SourceError>& error);
  // Imports the address's secret keys; the plain bytes are wiped after the import.
  bool load_secret(openpgp::Keyring& ring, const std::string& address,
                   std::optional<keys::SourceError>& error);
  // Certificates holding a (sub)key with this key ID or fingerprint (any validity).
  std::vector<std::string> by_id(std::string_view id, std::optional<keys::SourceError>& error);

  // The same lookups into a MessageKeySet (nothing is imported yet).
  // A discovery source's failure (KeySource::discovery()) goes to `discovery_error` when
  // given (the caller decides), else it is an error only when no other source had a key.
  bool add_public(MessageKeySet& set, const std::string& address,
                  std::optional<keys::SourceError>& error,
                  std::optional<keys::SourceError>* discovery_error = nullptr);
  bool add_secret(MessageKeySet& set, const std::string& address,
                  std::optional<keys::SourceError>& error);
  // The calling thread's kept keyring, holding every key of `set` as the sources gave it
  // (see the rules above); nullptr only if RNP cannot create a context. Valid until the
  // next sync() on this thread.
  static openpgp::Keyring* sync(const MessageKeySet& set);
  // by_id() for RNP's key provider on a kept keyring: also notes what RNP will import.
  std::vector<std::string> by_id_cached(std::string_view id,
                                        std::optional<keys::SourceError>& error);
  // After open()/verify_detached() on the kept keyring of `set`: true when every key the
  // verdict rests on is one the sources give for this message now (else: redo the
  // message with a fresh keyring). A source error also answers false.
  bool trusted_result(const openpgp::Verdict& v, const MessageKeySet& set);

  // The fingerprint of the address's usable encryption key (valid user ID carrying the
  // address, not expired, not revoked), or nullopt.
  std::optional<std::string> encryption_key(const std::string& address,
                                            std::optional<keys::SourceError>& error);

 private:
  std::vector<keys::KeySource*> sources_;
};

}  // namespace mailseal::gateway
