// `mailseal keys generate ADDRESS --token`: an S/MIME key pair generated inside the
// PKCS#11 token (C_GenerateKeyPair; private key CKA_SENSITIVE, not CKA_EXTRACTABLE), a
// certificate issued by the internal CA for its public key, and that certificate stored
// in the token (CKA_ID = the key's) and, public only, in the SQLite store. The private
// key exists nowhere but in the token.
#pragma once

#include <cstdint>
#include <string_view>

#include "keys/key_admin.h"
#include "keys/pkcs11_settings.h"

namespace mailseal::keys {

// RSA (2048/3072/4096) or EC (P-256/P-384). Needs the internal CA (`keys ca init`): a
// self-signed certificate would need the token key to sign it, which this does not do.
// All or nothing: if storing the certificate fails, the new token objects are destroyed.
Result<CertificateInfo> generate_in_token(KeyAdmin& admin, const Pkcs11Settings& token,
                                          std::string_view address, const GenerateOptions& options,
                                          std::int64_t now);

}  // namespace mailseal::keys
