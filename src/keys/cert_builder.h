// Key generation and certificate issuance for `keys ca init` and `keys generate`:
// the internal CA (self-signed, limited by nameConstraints to the internal domains) and
// S/MIME end-entity certificates (RFC 8550 profile: emailProtection, SAN rfc822Name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl_ptr.h"
#include "keys/result.h"

namespace mailseal::keys {

enum class KeyAlgorithm { rsa2048, rsa3072, rsa4096, p256, p384 };

// Accepts "rsa2048" / "rsa-2048", "p256" / "ec-p256" / "p-256" and so on.
std::optional<KeyAlgorithm> parse_key_algorithm(std::string_view text);
Result<crypto::PKeyPtr> generate_key(KeyAlgorithm alg);

struct Validity {
  std::int64_t now = 0;  // seconds since the epoch
  int days = 0;
};

// Self-signed CA: basicConstraints CA:TRUE pathlen:0, keyCertSign+cRLSign, and (when
// domains are given) critical nameConstraints permitting only e-mail in those domains,
// so a leaked CA key cannot mint certificates for outside addresses.
Result<crypto::X509Ptr> make_ca_certificate(EVP_PKEY* key, std::string_view common_name,
                                            const std::vector<std::string>& domains,
                                            Validity validity);

// End-entity certificate for one address, signed by `issuer`/`issuer_key`, or self-signed
// when issuer is null. KU digitalSignature + keyEncipherment (RSA) or keyAgreement (EC).
Result<crypto::X509Ptr> make_user_certificate(EVP_PKEY* key, std::string_view address, X509* issuer,
                                              EVP_PKEY* issuer_key, Validity validity);

}  // namespace mailseal::keys
