// `mailseal keys [--config FILE] lookup ADDRESS`: what each configured key source returns
// for an address, and which key the seal filter would use, and why.
#pragma once

#include <ostream>
#include <string>

#include "keys/key_admin.h"
#include "keys/result.h"

namespace mailseal::app {

// `config_file` empty: the store alone (no [keys] sources to read). Source failures are
// part of the report (exit 0); only an unusable configuration is an error.
keys::Status run_keys_lookup(const std::string& config_file, const std::string& address,
                             keys::KeyAdmin& admin, std::ostream& out);

}  // namespace mailseal::app
