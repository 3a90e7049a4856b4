// PostgreSQL backend (see pg_db.h).

#include "keys/pg_db.h"

#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "keys/secret_file.h"

namespace mailseal::keys::sql {
namespace {

// Type OIDs (pg_type.dat; fixed since PostgreSQL 7): libpq ships no header with them.
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25;

std::string pg_error(const char* m) {
  std::string s = m ? m : "unknown error";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ' ';  // one log line
  return "database: " + s;
}

std::int64_t big_endian(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  if (n < 8 && n > 0 && (static_cast<unsigned char>(p[0]) & 0x80))
    v |= ~std::uint64_t{0} << (8 * n);
  return static_cast<std::int64_t>(v);
}

class PgStmt final : public StmtImpl {
 public:
  PgStmt(PgConnection* c, PgConnection::Prepared* p) : c_(c), p_(p) {}
  ~PgStmt() override { PQclear(res_); }

  void bind_text(int i, std::string_view text) override {
    // Text parameters travel as C strings: an embedded NUL would cut the value short and
    // match another row (SQLite compares the whole value), so it is refused instead.
    if (text.find('\0') != std::string_view::npos)
      refused_ = "database: text parameter " + std::to_string(i) + " contains a NUL byte";
    set(i, std::string(text), kText, 0, false);
  }
  void bind_blob(int i, std::string_view bytes) override {
    set(i, std::string(bytes), kBytea, 1, false);
  }
  void bind_int(int i, std::int64_t v) override { set(i, std::to_string(v), kInt8, 0, false); }
  void bind_null(int i) override { set(i, {}, 0, 0, true); }

  Result<bool> step() override {
    if (!refused_.empty()) return fail(refused_);
    if (!res_) {
      auto st = execute();
      if (!st) return st.take_error();
    }
    return ++row_ < PQntuples(res_);
  }
  std::string text(int col) const override {
    return std::string(PQgetvalue(res_, row_, col),
                       static_cast<std::size_t>(PQgetlength(res_, row_, col)));
  }
  std::string blob(int col) const override { return text(col); }
  std::int64_t integer(int col) const override {
    if (PQgetisnull(res_, row_, col)) return 0;
    const char* v = PQgetvalue(res_, row_, col);
    int n = PQgetlength(res_, row_, col);
    switch (PQftype(res_, col)) {
      case kInt8:
      case kInt4:
      case kInt2:
      case kBool:
        return big_endian(v, n);
      default:  // text that holds a number (e.g. a meta value)
        return std::strtoll(std::string(v, static_cast<std::size_t>(n)).c_str(), nullptr, 10);
    }
  }
  bool is_null(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  void finish() override { delete this; }

 private:
  void set(int i, std::string v, Oid type, int format, bool null) {
    auto n = static_cast<std::size_t>(i);
    if (values_.size() < n) {
      values_.resize(n);
      types_.resize(n, 0);
      formats_.resize(n, 0);
      nulls_.resize(n, true);  // a placeholder never bound is NULL, as in SQLite
    }
    values_[n - 1] = std::move(v);
    types_[n - 1] = type;
    formats_[n - 1] = format;
    nulls_[n - 1] = null;
  }

  Status execute() {
    PGconn* conn = c_->raw();
    // Only a statement outside a transaction may be retried on a fresh connection, and
    // not after a deadline passed (the server is there but does not answer).
    bool may_retry = PQtransactionStatus(conn) == PQTRANS_IDLE;
    bool timed_out = false;
    auto st = try_execute(timed_out);
    if (!st && may_retry && !timed_out && !c_->usable() && c_->reset()) st = try_execute(timed_out);
    return st;
  }

  Status try_execute(bool& timed_out) {
    PGconn* conn = c_->raw();
    const int n = static_cast<int>(values_.size());
    if (!p_->done) {
      if (!PQsendPrepare(conn, p_->name.c_str(), p_->sql.c_str(), n, types_.data()))
        return fail(c_->error());
      auto r = c_->await_result(timed_out);
      if (!r) return r.take_error();
      bool ok = PQresultStatus(r.value()) == PGRES_COMMAND_OK;
      std::string why = ok ? "" : pg_error(PQresultErrorMessage(r.value()));
      PQclear(r.value());
      if (!ok) return fail(why);
      p_->done = true;
    }
    std::vector<const char*> values(values_.size());
    std::vector<int> lengths(values_.size());
    for (std::size_t i = 0; i < values_.size(); ++i) {
      values[i] = nulls_[i] ? nullptr : values_[i].data();
      lengths[i] = static_cast<int>(values_[i].size());
    }
    PQclear(res_);
    res_ = nullptr;
    if (!PQsendQueryPrepared(conn, p_->name.c_str(), n, values.data(), lengths.data(),
                             formats_.data(), 1 /* binary results */))
      return fail(c_->error());
    auto r = c_->await_result(timed_out);
    if (!r) return r.take_error();
    res_ = r.value();
    switch (PQresultStatus(res_)) {
      case PGRES_TUPLES_OK:
      case PGRES_COMMAND_OK:
        c_->set_changes(std::strtoll(PQcmdTuples(res_), nullptr, 10));
        return ok_status();
      default: {
        auto e = fail(pg_error(PQresultErrorMessage(res_)));
        PQclear(res_);
        res_ = nullptr;
        return e;
      }
    }
  }

  PgConnection* c_;
  PgConnection::Prepared* p_;
  std::vector<std::string> values_;
  std::vector<Oid> types_;
  std::vector<int> formats_;
  std::vector<bool> nulls_;
  PGresult* res_ = nullptr;
  int row_ = -1;
  std::string refused_;
};

}  // namespace

std::string pg_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: same result
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      c = '$';
    }
    out += c;
  }
  return out;
}

Result<std::unique_ptr<Connection>> PgConnection::connect(const PgSettings& s) {
  SecretBytes password;
  if (!s.password_file.empty()) {
    auto pw = read_secret_file(s.password_file, "keys.postgresql.password_file");
    if (!pw) return pw.take_error();
    password = SecretBytes(pw->size() + 1);  // NUL-terminated for libpq
    std::memcpy(password.data(), pw->data(), pw->size());
    password.data()[pw->size()] = 0;
  }
  const std::string timeout = std::to_string(s.connect_timeout.count());
  // dbname is expanded as a conninfo string; the keywords after it override its values.
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  std::vector<const char*> values = {s.conninfo.c_str(), timeout.c_str(), "mailseal"};
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(reinterpret_cast<const char*>(password.data()));
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (!conn) return fail("database: out of memory");
  std::unique_ptr<PgConnection> c(new PgConnection(conn, s.connect_timeout));
  if (PQstatus(conn) != CONNECTION_OK) return fail(c->error());
  // Notices (e.g. "relation already exists, skipping") are not errors; keep stderr clean.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(std::move(c));
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

std::string PgConnection::error() const {
  return pg_error(PQerrorMessage(conn_));
}

bool PgConnection::usable() const {
  return !abandoned_ && PQstatus(conn_) == CONNECTION_OK;
}

Status PgConnection::await_ready(std::chrono::steady_clock::time_point deadline, bool& timed_out) {
  for (;;) {
    if (!PQconsumeInput(conn_)) return fail(error());
    if (!PQisBusy(conn_)) return ok_status();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      // The answer may still come: this connection can never be trusted to be in step.
      abandoned_ = timed_out = true;
      return fail("database: no answer within " + std::to_string(timeout_.count()) +
                  "s (keys.postgresql.connect_timeout)");
    }
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR)
      return fail(std::string("database: poll: ") + std::strerror(errno));
  }
}

Result<PGresult*> PgConnection::await_result(bool& timed_out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  if (auto st = await_ready(deadline, timed_out); !st) return st.take_error();
  PGresult* first = PQgetResult(conn_);
  if (!first) return fail(error());
  // One command sent, so one result, then null: drained so the connection is ready again.
  for (;;) {
    if (auto st = await_ready(deadline, timed_out); !st) {
      PQclear(first);
      return st.take_error();
    }
    PGresult* more = PQgetResult(conn_);
    if (!more) break;
    PQclear(more);
  }
  return first;
}

bool PgConnection::reset() {
  PQreset(conn_);
  abandoned_ = false;
  for (auto& [sql, p] : prepared_) p.done = false;
  return usable();
}

Status PgConnection::exec(const std::string& sql) {
  if (abandoned_ || !PQsendQuery(conn_, sql.c_str())) return fail(error());
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  bool timed_out = false;
  std::string failure;  // several statements in one string: one result each
  for (;;) {
    if (auto st = await_ready(deadline, timed_out); !st) return st;
    PGresult* r = PQgetResult(conn_);
    if (!r) break;
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      failure = pg_error(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (!failure.empty()) return fail(failure);
  return ok_status();
}

Result<Stmt> PgConnection::prepare_cached(std::string_view sql) {
  auto it = prepared_.find(std::string(sql));
  if (it == prepared_.end()) {
    Prepared p{"m" + std::to_string(prepared_.size() + 1), pg_placeholders(sql), false};
    it = prepared_.emplace(std::string(sql), std::move(p)).first;
  }
  return Stmt(new PgStmt(this, &it->second));
}

Status PgConnection::begin_write() {
  if (auto st = exec("BEGIN"); !st) return st;
  auto bump = prepare_cached(
      "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'generation'");
  Status st = bump ? bump->run() : Status(bump.take_error());
  if (!st) (void)exec("ROLLBACK");
  return st;
}

Result<std::int64_t> PgConnection::change_counter() {
  auto q = prepare_cached("SELECT value FROM meta WHERE key = 'generation'");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return fail("database: meta has no generation row");
  return q->integer(0);
}

}  // namespace mailseal::keys::sql
