// SQLite wrappers: connection setup (WAL, busy timeout, foreign keys, secure delete),
// statements, transactions and the connection pool.

#include "keys/sqlite_db.h"

namespace mailseal::keys::sql {

Stmt& Stmt::bind(int i, std::string_view text) {
  sqlite3_bind_text(s_.get(), i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view bytes) {
  sqlite3_bind_blob(s_.get(), i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(s_.get(), i, v);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(s_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail(std::string("database: ") + sqlite3_errmsg(sqlite3_db_handle(s_.get())));
}

Status Stmt::run() {
  auto r = step();
  if (!r) return r.take_error();
  if (r.value()) return fail("database: statement returned rows unexpectedly");
  return ok_status();
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(s_.get(), col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s_.get(), col)))
           : std::string();
}
std::string Stmt::blob(int col) const {
  const void* p = sqlite3_column_blob(s_.get(), col);
  return p ? std::string(static_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s_.get(), col)))
           : std::string();
}
std::int64_t Stmt::integer(int col) const {
  return sqlite3_column_int64(s_.get(), col);
}
bool Stmt::is_null(int col) const {
  return sqlite3_column_type(s_.get(), col) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is used by one thread at a time (the pool hands out leases).
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Connection> c(new Connection(db));
  if (rc != SQLITE_OK) {
    return fail("cannot open key database " + file.string() + ": " +
                (db ? c->error() : std::string("out of memory")));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  // WAL: readers never block the writer nor each other. synchronous=FULL: key changes
  // are rare and must survive power loss. secure_delete: removed rows are zeroed on disk.
  auto st = c->exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
      "PRAGMA secure_delete=ON;");
  if (!st) return st.take_error();
  return c;
}

Connection::~Connection() {
  for (auto& [sql, c] : cached_) sqlite3_finalize(c.stmt);
  sqlite3_close_v2(db_);
}

Status Connection::exec(const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : error();
    sqlite3_free(msg);
    return fail("database: " + m);
  }
  return ok_status();
}

Result<Stmt> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) {
    return fail("database: " + error());
  }
  return Stmt(s);
}

Result<Stmt> Connection::prepare_cached(std::string_view sql) {
  auto it = cached_.find(std::string(sql));
  if (it == cached_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &s, nullptr) != SQLITE_OK) {
      return fail("database: " + error());
    }
    it = cached_.emplace(std::string(sql), Cached{s, false}).first;
  }
  if (it->second.busy) return prepare(sql);  // nested use of the same query
  it->second.busy = true;
  return Stmt(it->second.stmt, &it->second.busy);
}

Result<std::int64_t> Connection::data_version() {
  auto q = prepare_cached("PRAGMA data_version");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return fail("database: PRAGMA data_version returned nothing");
  return q->integer(0);
}

Transaction::~Transaction() {
  if (open_) (void)c_->exec("ROLLBACK");
}

Status Transaction::begin() {
  auto st = c_->exec("BEGIN IMMEDIATE");
  open_ = st.ok();
  return st;
}

Status Transaction::commit() {
  auto st = c_->exec("COMMIT");
  if (st) open_ = false;
  return st;
}

Pool::Lease::~Lease() {
  if (!c_ || !pool_) return;
  std::lock_guard lock(pool_->mu_);
  if (pool_->idle_.size() < kMaxIdle) pool_->idle_.push_back(std::move(c_));
}

Result<Pool::Lease> Pool::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto c = Connection::open(file_);
  if (!c) return c.take_error();
  return Lease(this, std::move(c).value());
}

}  // namespace mailseal::keys::sql
