// ASCII string helpers for protocol code: SMTP verbs, domains and header names are
// case-insensitive ASCII (RFC 5321 2.4); nothing here is locale-dependent.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailseal::util {

char ascii_lower(char c);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
bool is_ascii(std::string_view s);
// Replaces control characters so that a peer-supplied string is safe in one log line.
std::string printable(std::string_view s, std::size_t max_len = 200);

}  // namespace mailseal::util
