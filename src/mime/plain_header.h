// A header block read without building a GMime message, for the common case where it is
// plainly well-formed. GMime's parser costs tens of microseconds per message even for a
// header block of ten lines (objects, charset set-up); the seal path reads the header of
// every message twice (dispatch, then the content fields). Anything unusual makes these
// functions decline (nullopt) and the caller asks GMime, so the answers never differ from
// GMime's: tests/unit/mime/plain_header_test.cpp compares both on a corpus.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/entity.h"

namespace mailseal::mime {

// The fields of a header block (the bytes up to and including the empty line that ends
// it), in the order GMime reports them: the non-Content-* fields in order, then the
// Content-* fields in order (GMime keeps those on the MIME part). Values as GMime's raw
// values: folding kept, leading blanks and the final line end removed. nullopt when a
// byte is outside 1-127, a CR is not followed by LF, a line is neither a field (a name
// of printable characters directly followed by ':') nor a continuation of one, the block
// does not end with an empty line, or there are more than `max_fields` fields.
std::optional<std::vector<Header>> plain_header_fields(std::string_view block,
                                                       std::size_t max_fields);

// A Content-Type value parsed by GMime's own content-type parser (without a message):
// media type in lower case and the parameters the dispatch needs.
struct ContentTypeFields {
  std::string mime_type;  // "multipart/signed"
  std::string boundary;
  std::string protocol;    // lower case
  std::string smime_type;  // lower case
};
ContentTypeFields parse_content_type(const std::string& value);

// The plain reader's fields of a part's header block with the two that decide how the part
// is read. nullopt when plain_header_fields declines the block, or when it names a
// Content-Type or a Content-Transfer-Encoding twice (which one counts is GMime's call).
struct PlainPart {
  std::vector<Header> headers;  // as plain_header_fields gives them
  bool has_type = false;
  ContentTypeFields type;  // "text/plain" without a Content-Type (RFC 2045 5.2, as GMime)
  std::string encoding;    // Content-Transfer-Encoding, lower case; empty when there is none
};
std::optional<PlainPart> plain_part(std::string_view block, std::size_t max_fields);

}  // namespace mailseal::mime
