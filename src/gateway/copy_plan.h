// What the S/MIME and OpenPGP seal filters share about the shape of the outgoing copies:
// the outer headers that stay visible, and which recipients share a copy (visible To/Cc
// recipients with the same treatment) and which get their own (every Bcc recipient).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mime/entity.h"

namespace mailseal::gateway {

// All values of a header, comma-joined (To and Cc may appear more than once).
std::string header_value(const mime::Entity& e, const char* name);

// The kept outer headers (RFC 8551 3.1) as a header block, with MIME-Version added if absent.
std::string outer_header_block(const mime::Entity& msg);

// Copy groups keyed by treatment; a recipient not named in To/Cc gets a group of its own.
std::map<std::string, std::vector<std::string>> group_recipients(
    const mime::Entity& msg, const std::vector<std::string>& recipients,
    const std::function<int(const std::string&)>& treatment_of);

}  // namespace mailseal::gateway
