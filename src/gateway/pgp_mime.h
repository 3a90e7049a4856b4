// RFC 3156 PGP/MIME structures as exact CRLF bytes (multipart/encrypted with
// application/pgp-encrypted, multipart/signed with application/pgp-signature), and the
// recognition of OpenPGP content on the inbound side, including inline PGP (a whole
// text/plain body that is one armored message or one cleartext-signed message).
#pragma once

#include <string>

#include "mime/entity.h"
#include "mime/gmime_stream.h"

namespace mailseal::gateway {

// Content-Type header, preamble, the "Version: 1" part and the headers of the
// application/octet-stream part; the armored message follows, then pgp_encrypted_tail.
std::string pgp_encrypted_head(const std::string& boundary);
std::string pgp_encrypted_tail(const std::string& boundary);
// multipart/signed; micalg=pgp-sha256: head + first delimiter; the canonical entity;
// middle (delimiter + signature part headers); the armored signature; tail.
std::string pgp_signed_head(const std::string& boundary);
std::string pgp_signed_middle(const std::string& boundary);
std::string pgp_signed_tail(const std::string& boundary);

enum class PgpKind {
  none,
  encrypted,         // multipart/encrypted; protocol="application/pgp-encrypted"
  multipart_signed,  // multipart/signed; protocol="application/pgp-signature"
  inline_pgp,        // text/plain whose body (after white space) starts with an armor line
};

// Classifies a parsed entity; for inline PGP only the start of the body is looked at
// (the filter checks that the whole decoded body is one armored block).
PgpKind classify_pgp(const mime::Source& entity_source, const mime::Entity& entity);

// True when `text` (a decoded text body) is exactly one "BEGIN PGP MESSAGE" or "BEGIN PGP
// SIGNED MESSAGE" block, with only white space around it (no text mixed in: EFAIL).
bool is_whole_armored_message(std::string_view text);

}  // namespace mailseal::gateway
