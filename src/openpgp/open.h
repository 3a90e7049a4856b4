// Inbound OpenPGP: decrypt and/or verify a message (binary or armored "BEGIN PGP
// MESSAGE", or cleartext-signed "BEGIN PGP SIGNED MESSAGE"), and verify a detached
// signature over exact bytes (RFC 3156 multipart/signed). Results are Verdicts.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "openpgp/keyring.h"
#include "openpgp/streams.h"
#include "openpgp/verdict.h"

namespace mailseal::openpgp {

struct OpenOptions {
  // Signatures dated up to this far after our clock are accepted (sender clocks drift;
  // RNP itself reports a signature one second "in the future" as expired, and its
  // coarse time(NULL) can lag a peer on the same host by a tick). During the check the
  // keyring's "now" is moved forward by this much.
  std::chrono::seconds clock_skew{60};

  // Asked for a signer's certificate the keyring does not hold (id_type "keyid" or
  // "fingerprint", upper-case hex). Returns transferable public keys to import (only
  // public parts are taken); empty: unknown. Must not throw (exceptions are swallowed).
  std::function<std::vector<std::string>(std::string_view id_type, std::string_view id)>
      find_certificate;
};

// Decrypts (with any secret key in the keyring) and verifies into `plaintext`. When the
// verdict is not valid/no_signature/unknown_signer/expired_key/revoked_key, `plaintext`
// may hold partial output (RNP streams before the MDC check at the end) and must be
// discarded. Check verdict.encrypted: an unencrypted signed message is also accepted.
Verdict open(Keyring& keyring, Source message, Sink plaintext, const OpenOptions& options = {});

// Verifies a detached signature (armored or binary) over exactly the bytes of `data`.
Verdict verify_detached(Keyring& keyring, Source data, Source signature,
                        const OpenOptions& options = {});

}  // namespace mailseal::openpgp
