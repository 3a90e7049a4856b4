// Reading a small secret (a database password) from a file that other users cannot
// read: such a file would hand them the credential, so it is refused (like the master
// key). One trailing newline (CRLF or LF) is ignored.
#pragma once

#include <filesystem>
#include <string>

#include "keys/result.h"
#include "keys/secret_bytes.h"

namespace mailseal::keys {

// `what` names the setting in error messages (e.g. "keys.postgresql.password_file").
Result<SecretBytes> read_secret_file(const std::filesystem::path& file, const std::string& what);

}  // namespace mailseal::keys
