// Where a configuration's key store lives: keys.db under state_dir ([keys] store =
// "sqlite", the default) or a PostgreSQL database ([keys.postgresql]). Shared by `serve`
// (filters.cpp) and `mailseal keys --config`, so both always open the same store.
#pragma once

#include "core/config.h"
#include "keys/key_admin.h"

namespace mailseal::app {

keys::StoreLocation store_location(const core::Config& config);
// The store and the master key file of a configuration.
keys::StatePaths state_paths(const core::Config& config);

}  // namespace mailseal::app
