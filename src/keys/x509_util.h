// Small X.509 helpers the key store needs (fingerprints, DER, e-mail addresses, dates).
// Kept in keys/ so the store does not wait for crypto/; they hold no state.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl_ptr.h"
#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

// Drains OpenSSL's error queue into one short line (the last reason), "" if empty.
std::string openssl_error();

std::string hex(const unsigned char* data, std::size_t n);
std::string sha256_hex(std::string_view bytes);

std::string der_of(X509* cert);
crypto::X509Ptr x509_from_der(std::string_view der);
std::string der_of(X509_CRL* crl);
crypto::X509CrlPtr crl_from_der(std::string_view der);
std::string pem_of(X509* cert);

// SHA-256 over the DER certificate, lower-case hex without separators.
std::string fingerprint(X509* cert);

// rfc822Name entries of subjectAltName plus a legacy subject emailAddress, normalised.
std::vector<std::string> cert_emails(X509* cert);

// Seconds since the epoch; false when the time cannot be represented.
bool to_unix(const ASN1_TIME* t, std::int64_t& out);

// "RSA-3072", "EC-P-256", "Ed25519", ...
std::string key_algorithm(EVP_PKEY* key);
bool is_ca(X509* cert);
std::string subject_line(X509* cert);

// DER (PKCS#8) of a private key in a wiped buffer, and back.
Result<SecretBytes> private_key_der(EVP_PKEY* key);
crypto::PKeyPtr private_key_from_der(const SecretBytes& der);

// Several DER certificates concatenated (the stored chain) and back.
std::string der_chain(const std::vector<crypto::X509Ptr>& certs);
std::vector<crypto::X509Ptr> chain_from_der(std::string_view der);

}  // namespace mailseal::keys
