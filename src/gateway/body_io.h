// Glue between core::MessageBody and the callback streams of mime/ and crypto/, plus the
// streaming steps both filters share (base64 of a CMS output, decoding into a body).
#pragma once

#include <string>

#include "core/message_body.h"
#include "crypto/bio_adapter.h"
#include "mime/gmime_stream.h"

namespace mailseal::gateway {

mime::Source source_of(const core::MessageBody& body);
mime::AppendFn append_to(core::MessageBody& body);
crypto::BioPtr read_bio(const mime::Source& source);
// Copies a source into a body.
bool copy_into(const mime::Source& source, core::MessageBody& out);
// Copies a source into a body with every bare LF and bare CR turned into CRLF (SMTP
// line ends); CRLF pairs are kept as they are.
bool copy_crlf(const mime::Source& source, core::MessageBody& out);
// True when the source has a LF not preceded by CR, or a CR not followed by LF.
bool has_bare_line_end(const mime::Source& source);
// A sink BIO that base64-encodes (CRLF lines) into `out`; BIO_flush it when done.
crypto::BioPtr base64_into(core::MessageBody& out);

}  // namespace mailseal::gateway
