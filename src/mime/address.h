// Mailbox addresses named in an address header value (RFC 5322 3.4), groups flattened.
#pragma once

#include <string>
#include <vector>

namespace mailseal::mime {

// "Alice <alice@example.org>, bob@example.net" -> {"alice@example.org", "bob@example.net"}
std::vector<std::string> header_addresses(const std::string& value);

}  // namespace mailseal::mime
