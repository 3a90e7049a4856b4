// The one interface every key source implements (own SQLite store today; LDAP, PKCS#11,
// PostgreSQL, WKD/DANE later). The gateway asks sources in configured order.
// Addresses: the domain is compared case-insensitively, the local part exactly
// (RFC 5321 2.4); normalise_address() is the one place that rule lives.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl_ptr.h"

namespace mailseal::keys {

enum class KeyKind { smime, openpgp };

// A public certificate for an address. For S/MIME `cert` is set; OpenPGP keys carry their
// binary transferable public key in `openpgp` (the fingerprint is the primary key's, hex).
struct PublicKeyRecord {
  std::string address;
  KeyKind kind = KeyKind::smime;
  crypto::X509Ptr cert;
  std::string openpgp;      // binary transferable public key (OpenPGP only)
  std::string fingerprint;  // SHA-256 hex of the DER certificate, or OpenPGP fingerprint
  std::string source;       // "sqlite", "ldap", ...
};

// A secret key usable for one address (signing as sender, decrypting as recipient).
// The key material stays inside the object; it is never logged or copied to disk plain.
struct SecretKeyRecord {
  std::string address;
  KeyKind kind = KeyKind::smime;
  crypto::X509Ptr cert;                // the certificate that goes with the key
  crypto::PKeyPtr key;                 // S/MIME private key (may be a PKCS#11 handle later)
  std::vector<crypto::X509Ptr> chain;  // intermediate certificates to send along
  std::string openpgp;                 // OpenPGP: binary transferable secret key (unprotected)
  std::string fingerprint;
};

// Failure of a source itself (database unreadable, directory down): maps to a 4xx.
struct SourceError {
  std::string source;
  std::string reason;
  bool discovery = false;  // from a discovery source (KeySource::discovery())
};

class KeySource {
 public:
  virtual ~KeySource() = default;
  virtual std::string name() const = 0;
  // A discovery source (WKD, DANE) finds outside correspondents' keys on the Internet.
  // Its failure (SourceError) decides only for an address no other source has a key for:
  // the gateway then defers the mail (451) rather than refuse it or send it in clear; an
  // address another source has a key for is sealed with that key.
  virtual bool discovery() const { return false; }
  // Certificates/keys for an address, newest valid first. Empty = none found.
  virtual std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                                   std::optional<SourceError>& error) = 0;
  virtual std::vector<SecretKeyRecord> find_secret(std::string_view address, KeyKind kind,
                                                   std::optional<SourceError>& error) = 0;
  // Like find_secret, but only the keys whose certificate `wanted` accepts (S/MIME; it is
  // not asked for OpenPGP). A source should ask before it unseals or parses a key:
  // decrypting a message needs only the key one of its RecipientInfos names.
  virtual std::vector<SecretKeyRecord> find_secret_for(std::string_view address, KeyKind kind,
                                                       const std::function<bool(X509*)>& wanted,
                                                       std::optional<SourceError>& error) {
    auto all = find_secret(address, kind, error);
    std::vector<SecretKeyRecord> out;
    for (auto& r : all)
      if (kind != KeyKind::smime || (r.cert && wanted(r.cert.get()))) out.push_back(std::move(r));
    return out;
  }
  // OpenPGP certificates holding a (sub)key with this key ID (16 hex digits) or
  // fingerprint (40 or 64), whatever their validity: a signature names its issuer this
  // way, and an expired or revoked signer must be reported as such, not as unknown.
  // Sources without OpenPGP support keep the default (none).
  virtual std::vector<PublicKeyRecord> find_openpgp_by_id(std::string_view /*key_id*/,
                                                          std::optional<SourceError>& /*error*/) {
    return {};
  }
  // Trust anchors (CA certificates) and CRLs to verify signers against.
  virtual std::vector<crypto::X509Ptr> trust_anchors(std::optional<SourceError>& error) = 0;
  virtual std::vector<crypto::X509CrlPtr> crls(std::optional<SourceError>& error) = 0;
};

// A source of correspondents' public keys only (directory, WKD, DANE): no secret keys,
// trust anchors or CRLs, so those calls answer empty without an error.
class PublicKeySource : public KeySource {
 public:
  std::vector<SecretKeyRecord> find_secret(std::string_view, KeyKind,
                                           std::optional<SourceError>&) override {
    return {};
  }
  std::vector<crypto::X509Ptr> trust_anchors(std::optional<SourceError>&) override { return {}; }
  std::vector<crypto::X509CrlPtr> crls(std::optional<SourceError>&) override { return {}; }
};

// "Alice@Example.ORG" -> "Alice@example.org": domain lower-cased, local part kept exact.
std::string normalise_address(std::string_view address);

}  // namespace mailseal::keys
