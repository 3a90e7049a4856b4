// Decoding a base64 body without GMime, when it is plainly clean: only the base64
// alphabet and line ends (LF or CRLF), a whole number of 4-character groups, and '='
// padding only in the last group. For such a body every decoder gives the same bytes,
// GMime's included; anything else (spaces, stray characters, missing or early padding)
// is left to GMime's lenient decoder, so the result never differs from GMime's. Saves a
// GMime parse of the entity for each CMS part opened (application/pkcs7-mime,
// pkcs7-signature) and each OpenPGP part.
#pragma once

#include <optional>

#include "mime/gmime_stream.h"

namespace mailseal::mime {

// nullopt: not clean, nothing was written (ask GMime). true: decoded into `out`.
// false: `out` refused the bytes or the body could not be read.
std::optional<bool> decode_clean_base64(const Source& body, const AppendFn& out);

}  // namespace mailseal::mime
