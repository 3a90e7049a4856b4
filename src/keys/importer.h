// Parsing of files given to `keys import`: detects PKCS#12, PEM (certificates, private
// keys, CRLs, in any mix) and DER (certificate or CRL), and sorts the content into an
// ImportPlan. No database access: key_admin decides where the content goes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl_ptr.h"
#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

enum class ImportKind {
  identity,       // a certificate with its private key (PKCS#12, or PEM cert + key)
  certificates,   // other people's end-entity certificates
  trust_anchors,  // a bundle of CA certificates only
  crls,           // one or more CRLs only
};

struct ImportPlan {
  ImportKind kind = ImportKind::certificates;
  std::vector<crypto::X509Ptr> certs;    // identity: exactly one; certificates: the leaves
  crypto::PKeyPtr key;                   // identity only
  std::vector<crypto::X509Ptr> chain;    // identity: CA certificates that came along
  std::vector<crypto::X509Ptr> anchors;  // trust_anchors only
  std::vector<crypto::X509CrlPtr> crls;
  std::size_t ignored_ca = 0;  // CA certs next to leaves: not trusted implicitly
};

// `passphrase` may be null (none given). `key_file` is an optional separate PEM key.
Result<ImportPlan> parse_import(std::string_view file, const std::string* key_file,
                                const SecretBytes* passphrase);

}  // namespace mailseal::keys
