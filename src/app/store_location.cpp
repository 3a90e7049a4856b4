// store_location / state_paths: see store_location.h.
#include "app/store_location.h"

namespace mailseal::app {

keys::StoreLocation store_location(const core::Config& config) {
  if (config.keys.store != "postgresql") return keys::StoreLocation(config.state_dir / "keys.db");
  const auto& c = config.keys.postgresql;
  auto where = keys::StoreLocation::postgres(
      keys::sql::PgSettings{c.conninfo, c.password_file, c.connect_timeout});
  where.pool_size = c.pool_size;
  where.refresh = c.refresh;
  return where;
}

keys::StatePaths state_paths(const core::Config& config) {
  auto paths = keys::StatePaths::under(config.state_dir, config.keys.master_key);
  paths.store = store_location(config);
  return paths;
}

}  // namespace mailseal::app
