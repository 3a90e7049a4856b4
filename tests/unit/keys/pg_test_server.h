// A private PostgreSQL server for the store tests on the PostgreSQL backend: initdb and
// pg_ctl from the system's PostgreSQL (as the `postgres` user when run as root: the
// server refuses to run as root), data and Unix socket in a fresh temporary directory,
// listening on 127.0.0.1 on a free port. Started on first use, once per test executable,
// and stopped (and removed) when the executable ends. Each test gets a fresh database.
// Missing server binaries fail the test loudly: a skipped backend would hide breakage.
#pragma once

#include <string>

namespace mailseal::keys::testing {

class PgTestServer {
 public:
  // The running server; starts it on first call. Throws std::runtime_error (failing the
  // test that asked) when it cannot be started.
  static PgTestServer& get();
  // CREATE DATABASE with a new name; returns its libpq conninfo.
  std::string new_database();
  std::string conninfo(const std::string& dbname) const;
  // For outage tests: stop the server and start it again on the same port.
  void stop();
  void start();
  ~PgTestServer();

 private:
  PgTestServer();
  void run(const std::string& command) const;  // throws on failure
  std::string pg_ctl(const std::string& action) const;
  std::string bin_, dir_;
  int port_ = 0;
  int databases_ = 0;
  bool running_ = false;
};

}  // namespace mailseal::keys::testing
