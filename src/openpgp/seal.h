// Outbound OpenPGP: one signed-and-encrypted message (RFC 4880 5.13 SEIPD with MDC;
// the signature is inside the encryption, made in one pass) for PGP/MIME
// multipart/encrypted (RFC 3156 4), and armored detached signatures for
// multipart/signed with application/pgp-signature (RFC 3156 5, the sign-only fallback).
#pragma once

#include <string>
#include <vector>

#include "openpgp/keyring.h"
#include "openpgp/streams.h"

namespace mailseal::openpgp {

struct SealOptions {
  bool armor = true;  // RFC 3156 needs ASCII armor in the MIME part; binary for storage
  // No compression by default: compressing before encrypting costs CPU on every message
  // and makes the ciphertext length depend on the content (CRIME/BREACH-style leaks
  // when attacker-chosen text is mixed with secrets). MIME bodies are mostly already
  // compressed attachments anyway.
  bool compress = false;
};

// Signs with the signer's usable signing key and encrypts to every recipient's usable
// encryption subkey (AES-256, SHA-256, MDC). Each fingerprint is checked with
// Keyring::usable_key first: an expired or revoked recipient fails the whole seal
// (unusable_key) rather than silently dropping a reader.
Status seal(Keyring& keyring, Source plaintext, Sink out,
            const std::vector<std::string>& recipient_fingerprints,
            const std::string& signer_fingerprint, const SealOptions& options = {});

// Encrypts without a signature (for policies that want it; PGP/MIME prefers seal()).
Status encrypt_only(Keyring& keyring, Source plaintext, Sink out,
                    const std::vector<std::string>& recipient_fingerprints,
                    const SealOptions& options = {});

// Detached signature (armored "BEGIN PGP SIGNATURE", SHA-256) over exactly the bytes of
// `data`: for multipart/signed the caller passes the canonical (CRLF) MIME entity.
Status sign_detached(Keyring& keyring, Source data, Sink signature,
                     const std::string& signer_fingerprint);

}  // namespace mailseal::openpgp
