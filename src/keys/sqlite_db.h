// The SQLite backend of the key store's SQL layer (sql_db.h): connection setup, prepared
// statements (kept per connection for prepare_cached) and BEGIN IMMEDIATE writes. WAL lets
// concurrent readers each use their own pooled connection side by side with one writer.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "keys/sql_db.h"

namespace mailseal::keys::sql {

class SqliteConnection final : public Connection {
 public:
  // Opens an existing database (never creates one: the store does that, with mode 0600).
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& file);
  ~SqliteConnection() override;

  Backend backend() const override { return Backend::sqlite; }
  Status exec(const std::string& sql) override;
  Result<Stmt> prepare(std::string_view sql) override;
  // A statement still in use is never handed out twice; a nested caller gets a fresh one.
  Result<Stmt> prepare_cached(std::string_view sql) override;
  std::int64_t changes() const override { return sqlite3_changes64(db_); }
  // BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock halfway.
  Status begin_write() override { return exec("BEGIN IMMEDIATE"); }
  // PRAGMA data_version: changes when another connection (of this or another process)
  // commits to the database (https://sqlite.org/pragma.html#pragma_data_version).
  Result<std::int64_t> change_counter() override;
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  sqlite3* db_;
  std::unordered_map<std::string, Cached> cached_;  // node-based: &busy stays put
};

}  // namespace mailseal::keys::sql
