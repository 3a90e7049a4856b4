// The key store's SQL layer, neutral between its two backends (SQLite: sqlite_db.h,
// PostgreSQL: pg_db.h). The store's statements are written once, in the dialect both
// accept: `?N` placeholders (the PostgreSQL backend turns them into `$N`), INSERT ... ON
// CONFLICT, RETURNING. Blobs travel as bytes on both (BLOB / BYTEA in binary format).
//
// A Connection is used by one thread at a time (the Pool hands out leases); statements it
// prepares with prepare_cached() are compiled once per connection and kept.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "keys/result.h"

namespace mailseal::keys::sql {

enum class Backend { sqlite, postgresql };

// One backend's prepared statement with its bound values and, once stepped, its results.
class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual void bind_text(int i, std::string_view text) = 0;
  virtual void bind_blob(int i, std::string_view bytes) = 0;
  virtual void bind_int(int i, std::int64_t v) = 0;
  virtual void bind_null(int i) = 0;
  virtual Result<bool> step() = 0;
  virtual std::string text(int col) const = 0;
  virtual std::string blob(int col) const = 0;
  virtual std::int64_t integer(int col) const = 0;
  virtual bool is_null(int col) const = 0;
  // The statement is done with: back to its connection's cache, or destroyed.
  virtual void finish() = 0;
};

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(StmtImpl* s) : s_(s) {}
  Stmt& bind(int i, std::string_view text) {
    s_->bind_text(i, text);
    return *this;
  }
  Stmt& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
  Stmt& bind(int i, const std::string& text) { return bind(i, std::string_view(text)); }
  Stmt& bind_blob(int i, std::string_view bytes) {
    s_->bind_blob(i, bytes);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    s_->bind_int(i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    s_->bind_null(i);
    return *this;
  }
  // Result: true = a row is ready, false = done.
  Result<bool> step() { return s_->step(); }
  Status run();  // step to completion, expecting no rows
  std::string text(int col) const { return s_->text(col); }
  std::string blob(int col) const { return s_->blob(col); }
  std::int64_t integer(int col) const { return s_->integer(col); }
  bool is_null(int col) const { return s_->is_null(col); }

 private:
  struct Finish {
    void operator()(StmtImpl* s) const { s->finish(); }
  };
  std::unique_ptr<StmtImpl, Finish> s_;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Backend backend() const = 0;
  // One or more statements without parameters or results (schema, transaction control).
  virtual Status exec(const std::string& sql) = 0;
  virtual Result<Stmt> prepare(std::string_view sql) = 0;
  // Like prepare(), but the statement is compiled once per connection and kept: for the
  // queries of every lookup.
  virtual Result<Stmt> prepare_cached(std::string_view sql) = 0;
  // Rows changed by the last INSERT/UPDATE/DELETE run on this connection.
  virtual std::int64_t changes() const = 0;
  // Starts a write transaction that holds the store's write lock until it ends (writers
  // never deadlock halfway) and, where other processes cannot see commits otherwise,
  // advances the change counter in the same transaction.
  virtual Status begin_write() = 0;
  // A number that moves whenever the store was changed by another connection (any
  // process or node) since it was last read here: cache invalidation.
  virtual Result<std::int64_t> change_counter() = 0;
  // False once the connection is lost (the pool then drops it and connects anew).
  virtual bool usable() const { return true; }
};

// A write transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(&c) {}
  ~Transaction();
  Transaction(Transaction&& o) noexcept : c_(o.c_), open_(o.open_) { o.open_ = false; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin();        // Connection::begin_write
  Status begin_plain();  // a plain BEGIN (the caller takes the locks it needs)
  Status commit();

 private:
  Connection* c_;
  bool open_ = false;
};

// Connections for concurrent callers: idle ones are reused (up to `max_idle` kept), lost
// ones dropped, new ones opened by `connect` on demand.
class Pool {
 public:
  using Connect = std::function<Result<std::unique_ptr<Connection>>()>;
  Pool(Connect connect, std::size_t max_idle) : connect_(std::move(connect)), max_idle_(max_idle) {}
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
  Connect connect_;
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace mailseal::keys::sql
