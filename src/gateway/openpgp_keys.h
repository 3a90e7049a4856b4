// OpenPGP keys for the gateway filters: asks the key sources (in order) for an address's
// certificates and secret keys or for a signer's certificate by key ID, and loads them
// into a per-message openpgp::Keyring (RNP contexts are not thread-safe; one per message).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_source.h"
#include "openpgp/keyring.h"

namespace mailseal::gateway {

class OpenpgpKeys {
 public:
  explicit OpenpgpKeys(std::vector<keys::KeySource*> sources) : sources_(std::move(sources)) {}

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

  // The fingerprint of the address's usable encryption key (valid user ID carrying the
  // address, not expired, not revoked), or nullopt; looks in a scratch keyring.
  std::optional<std::string> encryption_key(const std::string& address,
                                            std::optional<keys::SourceError>& error);

 private:
  std::vector<keys::KeySource*> sources_;
};

}  // namespace mailseal::gateway
