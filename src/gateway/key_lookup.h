// Asks the configured key sources in order for certificates, secret keys, trust anchors
// and CRLs; the first source that has an answer wins. A failing source is reported.
// Nothing is cached here: the sources cache parsed keys themselves (KeyStore: see
// docs/KEYS.md "Key cache"), so asking twice for the same address (RCPT, then DATA) is
// cheap and never older than the store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "keys/key_source.h"

namespace mailseal::gateway {

class KeyLookup {
 public:
  explicit KeyLookup(std::vector<keys::KeySource*> sources) : sources_(std::move(sources)) {}

  std::optional<keys::PublicKeyRecord> certificate(const std::string& address,
                                                   std::optional<keys::SourceError>& error);
  std::vector<keys::SecretKeyRecord> secret_keys(const std::string& address,
                                                 std::optional<keys::SourceError>& error);
  // Only the keys whose certificate `wanted` accepts; sources open no other key.
  std::vector<keys::SecretKeyRecord> secret_keys(const std::string& address,
                                                 const std::function<bool(X509*)>& wanted,
                                                 std::optional<keys::SourceError>& error);
  std::vector<crypto::X509Ptr> anchors(std::optional<keys::SourceError>& error);
  std::vector<crypto::X509CrlPtr> crls(std::optional<keys::SourceError>& error);

 private:
  std::vector<keys::KeySource*> sources_;
};

}  // namespace mailseal::gateway
