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
// A sink BIO that base64-encodes (CRLF lines) into `out`; BIO_flush it when done.
crypto::BioPtr base64_into(core::MessageBody& out);

}  // namespace mailseal::gateway
