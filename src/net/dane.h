// DANE for SMTP (RFC 7672) on OpenSSL's DANE verifier: which TLSA records count, how an
// SSL is set up so that the handshake authenticates the server by them, and what the
// handshake proved. Transport::tls_client_handshake_dane is the user; callers must only
// pass records from a DNSSEC-secure TLSA lookup (RFC 7672 section 2.2).
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <vector>

#include "core/tlsa.h"

namespace mailseal::net {

// The records SMTP may use: DANE-TA(2) and DANE-EE(3) with a known selector (0, 1) and
// matching type (0, 1, 2). PKIX-TA(0)/PKIX-EE(1) are unusable for SMTP (RFC 7672 3.1.3):
// an MTA has no agreed set of public CAs. If none is usable the client must still use
// TLS but cannot authenticate (RFC 7672 2.2).
std::vector<core::TlsaRecord> usable_tlsa(const std::vector<core::TlsaRecord>& records);

// Enables DANE on ctx (idempotent) and ssl and adds the usable records. DANE-EE matches
// ignore names and dates (RFC 7672 3.1.1); DANE-TA chains must name mx_host (RFC 7672
// 3.2.2; wildcards only as a whole left-most label). Before the handshake. Returns the
// number of records added; 0 means nothing usable and `error` says why.
int dane_prepare(SSL_CTX* ctx, SSL* ssl, const std::vector<core::TlsaRecord>& records,
                 const std::string& mx_host, std::string& error);

struct DaneResult {
  bool authenticated = false;
  std::optional<core::TlsaRecord> matched;  // the record that authenticated the server
  int depth = -1;         // 0: the server's own certificate; >0: a CA of its chain
  std::string peer_name;  // DANE-TA: the name of the certificate that matched mx_host
  std::string reason;     // when not authenticated: OpenSSL's verification error
};

// After the handshake (or after it failed): whether DANE authenticated the peer.
DaneResult dane_result(const SSL* ssl);

}  // namespace mailseal::net
