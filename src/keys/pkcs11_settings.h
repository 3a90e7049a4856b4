// Where the PKCS#11 token of the S/MIME secret keys is ([keys.pkcs11] in the configuration)
// and how its user PIN is read. The PIN lives in a file of its own, never in the
// configuration or on a command line: the configuration is often world-readable and argv
// is visible to every local user.
#pragma once

#include <filesystem>
#include <string>

#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

struct Pkcs11Settings {
  std::filesystem::path module;    // the vendor's PKCS#11 library, e.g. libsofthsm2.so
  std::string token;               // token label (CKA_LABEL of the token, 32 chars max)
  std::filesystem::path pin_file;  // user PIN, mode 0600 (or 0400), owned by this user
  bool enabled() const { return !module.empty(); }
};

// Reads the PIN. Refused: a file that is not a regular file, that group or others may
// read or write, that another user owns, or that is empty. One trailing newline (CR LF
// too) is dropped, as `echo PIN > file` writes one. Errors never quote the content.
Result<SecretBytes> read_pin_file(const std::filesystem::path& path);

// Fixed-width, space-padded PKCS#11 label field -> string without the padding.
std::string trim_label(const char* field, std::size_t width);

}  // namespace mailseal::keys
