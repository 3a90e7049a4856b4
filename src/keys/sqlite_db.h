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
#include <vector>

#include "keys/result.h"

namespace mailseal::keys::sql {

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
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
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> s_;
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
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_id() const { return sqlite3_last_insert_rowid(db_); }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
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
