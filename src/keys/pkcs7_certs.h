// Certificates out of a PKCS#7 "certs-only" blob (a SignedData with no content and no
// signers, RFC 8551 3.6): the form of LDAP's userSMIMECertificate attribute and of .p7c
// files. Parsing only; what the certificates are good for is decided by the caller.
#pragma once

#include <string_view>
#include <vector>

#include "crypto/openssl_ptr.h"

namespace mailseal::keys {

// DER, or PEM ("-----BEGIN PKCS7-----"). Empty when the blob is not a PKCS#7 SignedData
// or carries no certificate; never throws or aborts on hostile input.
std::vector<crypto::X509Ptr> pkcs7_certificates(std::string_view blob);

}  // namespace mailseal::keys
