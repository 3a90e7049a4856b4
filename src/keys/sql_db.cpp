// Backend-neutral parts of the SQL layer: running a statement, transactions, the pool.

#include "keys/sql_db.h"

namespace mailseal::keys::sql {

Status Stmt::run() {
  auto r = step();
  if (!r) return r.take_error();
  if (r.value()) return fail("database: statement returned rows unexpectedly");
  return ok_status();
}

Transaction::~Transaction() {
  if (open_) (void)c_->exec("ROLLBACK");
}

Status Transaction::begin() {
  auto st = c_->begin_write();
  open_ = st.ok();
  return st;
}

Status Transaction::begin_plain() {
  auto st = c_->exec("BEGIN");
  open_ = st.ok();
  return st;
}

Status Transaction::commit() {
  auto st = c_->exec("COMMIT");
  if (st) open_ = false;
  return st;
}

Pool::Lease::~Lease() {
  if (!c_ || !pool_ || !c_->usable()) return;
  std::lock_guard lock(pool_->mu_);
  if (pool_->idle_.size() < pool_->max_idle_) pool_->idle_.push_back(std::move(c_));
}

Result<Pool::Lease> Pool::acquire() {
  {
    std::lock_guard lock(mu_);
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->usable()) return Lease(this, std::move(c));
    }
  }
  auto c = connect_();
  if (!c) return c.take_error();
  return Lease(this, std::move(c).value());
}

}  // namespace mailseal::keys::sql
