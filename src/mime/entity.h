// MIME operations mailseal needs, over GMime 3: parse a message or entity strictly,
// classify S/MIME types, split outer headers from the content entity, canonicalise the
// entity to 7-bit CRLF, decode a leaf part, and locate the parts of multipart/signed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mime/gmime_stream.h"

namespace mailseal::mime {

struct Header {
  std::string name;
  std::string value;  // raw value as received (folding kept, no trailing CRLF)
};

enum class SmimeKind {
  none,              // not S/MIME
  enveloped,         // application/pkcs7-mime; smime-type=enveloped-data
  auth_enveloped,    // application/pkcs7-mime; smime-type=authEnveloped-data
  signed_data,       // application/pkcs7-mime; smime-type=signed-data (opaque)
  multipart_signed,  // multipart/signed; protocol=application/pkcs7-signature
  other_pkcs7,       // pkcs7-mime without a known smime-type (certs-only, compressed ...)
};

struct Limits {
  int max_depth = 8;  // MIME nesting (multiparts and message/rfc822)
  std::size_t max_headers = 1000;
};

struct Entity {
  bool ok = false;
  std::string error;               // why it is malformed (when !ok)
  std::vector<Header> headers;     // top-level headers in order
  std::size_t body_offset = 0;     // first byte after the blank line ending the headers
  std::string mime_type;           // "multipart/signed", lower case
  std::string boundary;            // multipart boundary
  std::string signature_protocol;  // multipart/signed protocol parameter, lower case
  SmimeKind smime = SmimeKind::none;
  bool encrypted_part_inside = false;  // an S/MIME encrypted part below the top level
};

// Parses a whole message or MIME entity. Strict mode (verify path) treats GMime's
// critical issues, a duplicated Content-Type and nesting beyond the limit as malformed.
Entity parse_entity(const Source& source, const Limits& limits = {}, bool strict = true);

// Only the top-level header block: headers, body_offset and the top-level type fields are
// those parse_entity() gives (non-strict); nothing below the header is read. For callers
// that need the header of a message that may be 100 MB (seal: From, To/Cc/Bcc, the
// fields kept outside; open: which format to dispatch to): a full parse reads it all.
// A plainly well-formed header block is read without GMime's parser (plain_header.h);
// the answer is the same.
Entity parse_header_block(const Source& source, const Limits& limits = {});
// The same through GMime's parser, always: the reference the plain reader is tested
// against.
Entity parse_header_block_with_gmime(const Source& source, const Limits& limits = {});

SmimeKind classify(const std::string& mime_type, const std::string& smime_type,
                   const std::string& protocol);

// The RFC 8551 outer headers a sealed message keeps (RFC 8551 3.1: the rest is protected
// inside); Bcc is never kept. Received stays outside as a trace field (RFC 5321 4.4).
bool is_kept_outer_header(const std::string& name);
bool is_content_header(const std::string& name);  // Content-*

// Writes `message` unchanged except that the header fields named in `drop` (case-
// insensitive, with their folded continuation lines) are left out. The body and every
// other byte are copied exactly. False when reading or writing fails.
bool write_without_fields(const Source& message, const std::vector<std::string>& drop,
                          const AppendFn& out);

// Writes the content entity of `message` (its Content-* headers and body) made 7-bit
// clean (GMIME_ENCODING_CONSTRAINT_7BIT) with CRLF line ends. False on failure.
bool write_canonical_entity(const Source& message, const AppendFn& out, std::string* error);

// The canonical entity read in place, when the message already is canonical: its body is
// 7-bit with CRLF lines of at most 998 octets, it has a Content-Type, and
// write_canonical_entity would neither convert a text part nor re-encode a part. Then the
// entity is the message's Content-* fields as they are (kept in `head`, which must
// outlive the result), an empty line and the body, and nothing is copied: for a large
// message that saves writing it once more. nullopt: use write_canonical_entity.
std::optional<Source> canonical_entity_in_place(const Source& message, std::string& head);

// Writes the transfer-decoded content of a single-part entity (e.g. base64 smime.p7m).
// Clean base64 under a plain header block is decoded without GMime (clean_base64.h);
// the bytes are the same.
bool write_decoded_content(const Source& entity, const AppendFn& out, std::string* error);
// The same through GMime, always: the reference the fast path is tested against.
bool write_decoded_content_with_gmime(const Source& entity, const AppendFn& out,
                                      std::string* error);

// The transfer-decoded contents of the leaf parts of type `mime_type` (lower case, e.g.
// "application/pgp-keys") in an entity: the entity itself and the parts of its multiparts
// down to limits.max_depth, but never inside an attached message (message/rfc822: what a
// forwarded message carries is not its sender's). At most `max_parts` parts; a part
// larger than `max_bytes` decoded is skipped. Used for keys attached to signed mail.
std::vector<std::string> decoded_parts_of_type(const Source& entity, const std::string& mime_type,
                                               const Limits& limits, std::size_t max_parts,
                                               std::size_t max_bytes);

// multipart/signed: exact byte ranges of the signed first part (without the CRLF that
// belongs to the delimiter, RFC 1847 2.1) and of the whole second part.
struct SignedParts {
  bool ok = false;
  std::string error;
  std::size_t content_offset = 0, content_length = 0;
  std::size_t signature_offset = 0, signature_length = 0;
};
SignedParts locate_signed_parts(const Source& body, const std::string& boundary);

// ---- builders (exact bytes, CRLF) --------------------------------------------------

std::string make_boundary();                                   // random, 128 bits
std::string header_block(const std::vector<Header>& headers);  // "Name: value\r\n"...
// Headers + preamble + first delimiter of multipart/signed (micalg=sha-256).
std::string signed_multipart_head(const std::string& boundary);
// Delimiter after the signed content + headers of the application/pkcs7-signature part.
std::string signed_multipart_middle(const std::string& boundary);
std::string signed_multipart_tail(const std::string& boundary);
// Content-Type/-Transfer-Encoding/-Disposition lines of an application/pkcs7-mime
// entity, ending with the blank line; kind is enveloped, auth_enveloped or signed_data.
std::string pkcs7_mime_headers(SmimeKind kind);

}  // namespace mailseal::mime
