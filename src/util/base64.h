// Base64 (RFC 4648) for protocol code that must not depend on OpenSSL (SMTP AUTH).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailseal::util {

std::string base64_encode(std::string_view in);
// Strict: only the standard alphabet, correct padding; nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace mailseal::util
