// Thin RAII layer over the SQLite C API for the key store: a connection, prepared
// statements, a write transaction that rolls back unless committed, and a small pool so
// that concurrent readers each get their own connection (WAL lets them run side by side).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "keys/result.h"

namespace mailseal::keys::sql {

// Ends a statement: finalises it, or, for one the Connection keeps (prepare_cached),
// resets it and marks it free again.
struct StmtFinalize {
  bool* busy = nullptr;
  void operator()(sqlite3_stmt* s) const {
    if (!busy) {
      sqlite3_finalize(s);
      return;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    *busy = false;
  }
};

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  // A statement kept by its Connection (prepare_cached): reset, not finalised, at the end.
  Stmt(sqlite3_stmt* s, bool* busy) : s_(s, StmtFinalize{busy}) {}
  Stmt& bind(int i, std::string_view text);  // TEXT
  Stmt& bind_blob(int i, std::string_view bytes);
  Stmt& bind(int i, std::int64_t v);
  // Result: true = a row is ready, false = done.
  Result<bool> step();
  Status run();  // step to completion, expecting no rows
  std::string text(int col) const;
  std::string blob(int col) const;
  std::int64_t integer(int col) const;
  bool is_null(int col) const;

 private:
  std::unique_ptr<sqlite3_stmt, StmtFinalize> s_;
};

class Connection {
 public:
  // Opens an existing database (never creates one: init does that, with mode 0600).
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& file);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status exec(const std::string& sql);
  Result<Stmt> prepare(std::string_view sql);
  // Like prepare(), but the statement is compiled once per connection and kept (reset,
  // not finalised, when the returned Stmt goes): for the queries of every lookup. A
  // statement still in use is never handed out twice; a nested caller gets a fresh one.
  Result<Stmt> prepare_cached(std::string_view sql);
  // PRAGMA data_version: changes when another connection (of this or another process)
  // commits to the database (https://sqlite.org/pragma.html#pragma_data_version).
  Result<std::int64_t> data_version();
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_id() const { return sqlite3_last_insert_rowid(db_); }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  sqlite3* db_;
  std::unordered_map<std::string, Cached> cached_;  // node-based: &busy stays put
};

// BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock halfway.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(&c) {}
  ~Transaction();
  Transaction(Transaction&& o) noexcept : c_(o.c_), open_(o.open_) { o.open_ = false; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin();
  Status commit();

 private:
  Connection* c_;
  bool open_ = false;
};

class Pool {
 public:
  explicit Pool(std::filesystem::path file) : file_(std::move(file)) {}
  class Lease {
   public:
    Lease(Pool* p, std::unique_ptr<Connection> c) : pool_(p), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> c_;
  };
  Result<Lease> acquire();

 private:
  friend class Lease;
  static constexpr std::size_t kMaxIdle = 8;
  std::filesystem::path file_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace mailseal::keys::sql
