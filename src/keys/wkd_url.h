// Web Key Directory names (draft-koch-openpgp-webkey-service, section 3.1): the z-base-32
// encoded SHA-1 of the lower-cased local part, and the two URLs a key may be found at —
// the advanced method on the openpgpkey.<domain> sub-domain first, the direct method on
// the domain itself second. Pure functions: no I/O, unit-tested against the draft's
// example ("Joe.Doe@Example.ORG" -> iy9q119eutrkn8s1mk4r39qejnbu3n5q).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailseal::keys {

// z-base-32 (RFC 6189 section 5.1.6 alphabet), no padding; 20 bytes -> 32 characters.
std::string zbase32(std::string_view bytes);

// The "hu" part of the URL: zbase32(SHA-1(ASCII-lower-cased local part)).
std::string wkd_hash(std::string_view local_part);

// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(std::string_view text);

struct WkdLocation {
  std::string host;  // "openpgpkey.example.org" or "example.org"
  std::string path;  // "/.well-known/openpgpkey/..../hu/<hash>?l=<local part>"
};

struct WkdUrls {
  WkdLocation advanced;
  WkdLocation direct;
};

// nullopt for an address without '@', with an empty part, or with a domain that cannot be
// a host name (spaces, '/', '?', '#', '%', '@', ':' or '[' in it).
std::optional<WkdUrls> wkd_urls(std::string_view address);

// "https://host[:port]path" for logs and reports (the port only when not 443).
std::string wkd_url_text(const WkdLocation& where, unsigned port);

}  // namespace mailseal::keys
