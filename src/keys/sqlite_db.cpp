// SQLite backend: connection setup (WAL, busy timeout, foreign keys, secure delete) and
// statements.

#include "keys/sqlite_db.h"

namespace mailseal::keys::sql {
namespace {

// `busy` is null for a statement of its own (finalised at the end), else the flag of the
// connection's cache entry (reset and marked free at the end).
class SqliteStmt final : public StmtImpl {
 public:
  SqliteStmt(sqlite3_stmt* s, bool* busy) : s_(s), busy_(busy) {}
  void bind_text(int i, std::string_view text) override {
    sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind_blob(int i, std::string_view bytes) override {
    // A zero-length blob, not NULL (sqlite3_bind_blob with a null pointer binds NULL).
    sqlite3_bind_blob(s_, i, bytes.empty() ? "" : bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
  }
  void bind_int(int i, std::int64_t v) override { sqlite3_bind_int64(s_, i, v); }
  void bind_null(int i) override { sqlite3_bind_null(s_, i); }
  Result<bool> step() override {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return fail(std::string("database: ") + sqlite3_errmsg(sqlite3_db_handle(s_)));
  }
  std::string text(int col) const override {
    const auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  std::string blob(int col) const override {
    const void* p = sqlite3_column_blob(s_, col);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  std::int64_t integer(int col) const override { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  void finish() override {
    if (busy_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
      *busy_ = false;
    } else {
      sqlite3_finalize(s_);
    }
    delete this;
  }

 private:
  sqlite3_stmt* s_;
  bool* busy_;
};

}  // namespace

Result<std::unique_ptr<Connection>> SqliteConnection::open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is used by one thread at a time (the pool hands out leases).
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<SqliteConnection> c(new SqliteConnection(db));
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
  return std::unique_ptr<Connection>(std::move(c));
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, c] : cached_) sqlite3_finalize(c.stmt);
  sqlite3_close_v2(db_);
}

Status SqliteConnection::exec(const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : error();
    sqlite3_free(msg);
    return fail("database: " + m);
  }
  return ok_status();
}

Result<Stmt> SqliteConnection::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) {
    return fail("database: " + error());
  }
  return Stmt(new SqliteStmt(s, nullptr));
}

Result<Stmt> SqliteConnection::prepare_cached(std::string_view sql) {
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
  return Stmt(new SqliteStmt(it->second.stmt, &it->second.busy));
}

Result<std::int64_t> SqliteConnection::change_counter() {
  auto q = prepare_cached("PRAGMA data_version");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return fail("database: PRAGMA data_version returned nothing");
  return q->integer(0);
}

}  // namespace mailseal::keys::sql
