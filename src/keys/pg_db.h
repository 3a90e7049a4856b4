// The PostgreSQL backend of the key store's SQL layer (sql_db.h), over libpq. Several
// mailseal nodes share one database this way (docs/KEYS.md, "PostgreSQL").
//
// * Statements are prepared on the server once per connection (named "m1", "m2", ...),
//   on first use, with the parameter types of that use (bytes as BYTEA in binary format,
//   integers as BIGINT, text left for the server to infer), and results come back in
//   binary format, so blobs are never escaped or hex-encoded.
// * The store's `?N` placeholders become `$N` (outside quotes) when a statement is
//   prepared: one text per statement for both backends.
// * Writes: BEGIN, then the `generation` row of meta is bumped first thing. Its row lock
//   serialises writers for the whole transaction (like SQLite's BEGIN IMMEDIATE), and the
//   new value becomes visible with the changes themselves: the change counter other nodes
//   poll to invalidate their caches.
// * A lost connection (server restarted, network cut) is reset once and the statement
//   retried when it was not inside a transaction; otherwise the error is returned and the
//   pool drops the connection, so the store reconnects when the server is back.
// * Every round trip has a deadline (connect_timeout): a server that accepts but never
//   answers (hung, or a lock held elsewhere) fails the statement instead of stalling the
//   mail waiting for it; the connection is then abandoned.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "keys/sql_db.h"

namespace mailseal::keys::sql {

struct PgSettings {
  std::string conninfo;                      // libpq keyword form, without password
  std::filesystem::path password_file;       // empty: no password (e.g. peer/trust, .pgpass)
  std::chrono::seconds connect_timeout{10};  // per connection attempt and per round trip
};

// `?N` -> `$N`, except inside '...' literals and "..." identifiers.
std::string pg_placeholders(std::string_view sql);

class PgConnection final : public Connection {
 public:
  static Result<std::unique_ptr<Connection>> connect(const PgSettings& settings);
  ~PgConnection() override;

  Backend backend() const override { return Backend::postgresql; }
  Status exec(const std::string& sql) override;
  Result<Stmt> prepare(std::string_view sql) override { return prepare_cached(sql); }
  Result<Stmt> prepare_cached(std::string_view sql) override;
  std::int64_t changes() const override { return changes_; }
  Status begin_write() override;
  Result<std::int64_t> change_counter() override;
  bool usable() const override;

  // For PgStmt.
  struct Prepared {
    std::string name, sql;
    bool done = false;  // prepared on the server (false again after a reset)
  };
  PGconn* raw() { return conn_; }
  void set_changes(std::int64_t n) { changes_ = n; }
  bool reset();  // reconnects; every statement must be prepared again
  std::string error() const;
  // The result of the command just sent (PQsend*), waiting at most the deadline. On
  // timeout the connection is abandoned (unusable from then on) and `timed_out` set.
  Result<PGresult*> await_result(bool& timed_out);
  // Reads until a result can be taken without blocking, or the deadline passes.
  Status await_ready(std::chrono::steady_clock::time_point deadline, bool& timed_out);

 private:
  PgConnection(PGconn* c, std::chrono::seconds timeout) : conn_(c), timeout_(timeout) {}
  PGconn* conn_;
  std::chrono::seconds timeout_;
  bool abandoned_ = false;
  std::int64_t changes_ = 0;
  std::unordered_map<std::string, Prepared> prepared_;  // node-based: pointers stay put
};

}  // namespace mailseal::keys::sql
