// The key store schema and its migrations (SQLite: PRAGMA user_version; PostgreSQL: the
// meta row 'schema_version').
#pragma once

#include "keys/result.h"
#include "keys/sql_db.h"

namespace mailseal::keys::sql {

inline constexpr int kSchemaVersion = 2;

// Brings the schema up to kSchemaVersion in one transaction; refuses a database written
// by a newer mailseal (its layout is unknown to us, so writing to it could corrupt it).
Status migrate(Connection& db);

}  // namespace mailseal::keys::sql
