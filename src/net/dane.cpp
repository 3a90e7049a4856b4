// DANE setup and result on top of SSL_dane_enable / SSL_dane_tlsa_add.
#include "net/dane.h"

#include <openssl/x509v3.h>

namespace mailseal::net {

std::vector<core::TlsaRecord> usable_tlsa(const std::vector<core::TlsaRecord>& records) {
  std::vector<core::TlsaRecord> out;
  for (const auto& r : records) {
    if (r.usage != 2 && r.usage != 3) continue;
    if (r.selector > 1 || r.matching > 2 || r.data.empty()) continue;
    out.push_back(r);
  }
  return out;
}

int dane_prepare(SSL_CTX* ctx, SSL* ssl, const std::vector<core::TlsaRecord>& records,
                 const std::string& mx_host, std::string& error) {
  auto usable = usable_tlsa(records);
  if (usable.empty()) {
    error = "no usable TLSA records (only DANE-TA(2) and DANE-EE(3) count for SMTP)";
    return 0;
  }
  if (SSL_CTX_dane_enable(ctx) <= 0 || SSL_dane_enable(ssl, mx_host.c_str()) <= 0) {
    error = "OpenSSL could not enable DANE";
    return 0;
  }
  // DANE-EE(3): the key in DNS is the whole proof; names and dates do not matter.
  SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
  // DANE-TA(2) name check: "*.example.com" may match, "mx*.example.com" may not.
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int added = 0;
  for (const auto& r : usable) {
    // 0 = OpenSSL finds the record unusable (e.g. a digest of the wrong length): skip it,
    // as RFC 7672 2.2 asks; -1 = an internal error.
    int rc = SSL_dane_tlsa_add(ssl, r.usage, r.selector, r.matching, r.data.data(), r.data.size());
    if (rc > 0) ++added;
  }
  if (added == 0) error = "none of the TLSA records is usable (malformed digests)";
  return added;
}

DaneResult dane_result(const SSL* ssl) {
  DaneResult r;
  SSL* s = const_cast<SSL*>(ssl);  // the getters are not const-correct
  long verify = SSL_get_verify_result(s);
  std::uint8_t usage = 0, selector = 0, matching = 0;
  const unsigned char* data = nullptr;
  size_t length = 0;
  int depth = SSL_get0_dane_tlsa(s, &usage, &selector, &matching, &data, &length);
  if (verify == X509_V_OK && depth >= 0 && data) {
    r.authenticated = true;
    r.depth = depth;
    r.matched = core::TlsaRecord{usage, selector, matching, {data, data + length}};
    if (const char* name = SSL_get0_peername(s)) r.peer_name = name;
    return r;
  }
  // A failed verification leaves its error; X509_V_OK with no DANE match means the
  // handshake stopped before the certificate was checked (e.g. no common protocol).
  if (verify != X509_V_OK)
    r.reason = X509_verify_cert_error_string(verify);
  else if (!SSL_get0_peer_certificate(s))
    r.reason = "the handshake ended before a server certificate was verified";
  else
    r.reason = "no TLSA record matched the server's certificate chain";
  return r;
}

}  // namespace mailseal::net
