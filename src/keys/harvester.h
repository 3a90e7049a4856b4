// Harvester: files the keys of correspondents whose signed mail verified (issue 6), so that
// replies to them can be sealed. The open filters decide *whether* a message qualifies
// (gateway/harvest.h); this class only checks the key itself and writes it.
//
// Rules kept here, whatever the caller decided:
// * only public material is written (an OpenPGP key is re-exported public-only);
// * a key is filed only under an address it names (certificate e-mail / valid user ID);
// * adding is idempotent and never overwrites or removes a stored key: a key already
//   filed under the address (any validity) is left as it is, so a key the operator marked
//   or updated is never replaced by what a message carries;
// * the common case (already stored) costs one cached lookup, not a write.
// Writes block (SQLite transaction): call it from the crypto pool, never an I/O thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "keys/key_store.h"

namespace mailseal::keys {

enum class HarvestOutcome {
  stored,   // newly filed under the address
  known,    // already filed under the address: nothing written
  refused,  // the key does not qualify (wrong address, not the signer's key, revoked, ...)
  failed,   // the store could not be read or written
};

struct HarvestResult {
  HarvestOutcome outcome = HarvestOutcome::refused;
  std::string fingerprint;  // of the key concerned, when known
  std::string detail;       // why (refused / failed), for the log
};

const char* harvest_outcome_name(HarvestOutcome o);

class Harvester {
 public:
  // Told every result except `known` (the daemon logs them: stored at info, refused and
  // failed at warn); a failed write is only ever a log line, never a failure of the mail.
  using Log = std::function<void(std::string_view address, KeyKind kind, const HarvestResult&)>;
  explicit Harvester(KeyStore& store, Log log = {}, Clock now = {});

  // Our own domains (lower case; [outside] internal_domains): keys for those addresses are
  // the operator's to manage, never taken from mail that came in from outside (a key the
  // operator removed would come back with the next message signed by it).
  void set_own_domains(std::vector<std::string> domains) { own_domains_ = std::move(domains); }

  // S/MIME: the end-entity certificate whose signature verified, under `from`.
  HarvestResult add_smime(std::string_view from, X509* cert);

  // OpenPGP: `key_data` (armored or binary, as carried by the message) is filed under
  // `from` only when it holds the primary key `signer_fingerprint` that made the verified
  // signature (with `signing_key_fingerprint`, the primary or one of its subkeys, among its
  // keys), is neither revoked nor expired, and a valid user ID carries `from`.
  HarvestResult add_openpgp(std::string_view from, std::string_view key_data,
                            std::string_view signer_fingerprint,
                            std::string_view signing_key_fingerprint);

 private:
  HarvestResult harvest_smime(std::string_view from, X509* cert);
  HarvestResult harvest_openpgp(std::string_view from, std::string_view key_data,
                                std::string_view signer_fingerprint,
                                std::string_view signing_key_fingerprint);
  HarvestResult logged(std::string_view from, KeyKind kind, HarvestResult r);
  // Is `fingerprint` filed under `address` (cached valid lookup first, then any validity)?
  Result<bool> stored(const std::string& address, KeyKind kind, const std::string& fingerprint);

  KeyStore& store_;
  bool own_address(const std::string& address) const;

  Log log_;
  Clock now_;
  std::vector<std::string> own_domains_;
};

}  // namespace mailseal::keys
