// PgTestServer: see pg_test_server.h.

#include "pg_test_server.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

namespace mailseal::keys::testing {
namespace {

// The newest installed server (Debian: /usr/lib/postgresql/<major>/bin), or MAILSEAL_PG_BIN.
std::string find_bin() {
  if (const char* e = std::getenv("MAILSEAL_PG_BIN")) return e;
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(d.path() / "bin" / "initdb")) found.push_back(d.path() / "bin");
  }
  if (found.empty())
    throw std::runtime_error(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (install the "
        "postgresql package: scripts/install-deps.sh)");
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::stoi(a.parent_path().filename().string()) <
           std::stoi(b.parent_path().filename().string());
  });
  return found.back().string();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Stops the server when the test executable ends (gtest_main runs no atexit order we
// could rely on for a function-local static, so an Environment does it).
class StopAtEnd : public ::testing::Environment {
 public:
  void TearDown() override;
};
PgTestServer* g_server = nullptr;
void StopAtEnd::TearDown() {
  delete g_server;
  g_server = nullptr;
}
[[maybe_unused]] auto* g_env = ::testing::AddGlobalTestEnvironment(new StopAtEnd);

}  // namespace

PgTestServer& PgTestServer::get() {
  if (!g_server) g_server = new PgTestServer();
  return *g_server;
}

void PgTestServer::run(const std::string& command) const {
  // As root the server binaries run as `postgres` (they refuse to run as root).
  std::string full = (::geteuid() == 0 ? "runuser -u postgres -- " : "") + command + " >>" + dir_ +
                     "/commands.log 2>&1";
  if (std::system(full.c_str()) != 0) {
    if (std::system(("cat " + dir_ + "/commands.log " + dir_ + "/server.log >&2").c_str())) {
    }
    throw std::runtime_error("test PostgreSQL: `" + command + "` failed (output above)");
  }
}

std::string PgTestServer::pg_ctl(const std::string& action) const {
  return bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w " + action;
}

PgTestServer::PgTestServer() : bin_(find_bin()) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mailseal-pg-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (::geteuid() == 0) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("test PostgreSQL: no `postgres` user to run the server as");
    if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("test PostgreSQL: cannot chown " + dir_);
  }
  // -N and fsync=off: a throw-away server, durability is not what is tested here.
  run(bin_ + "/initdb -N -A trust -U mailseal -E UTF8 -D " + dir_ + "/data");
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      break;
    } catch (const std::exception&) {
      if (attempt == 4) throw;  // the port was taken between free_port() and the bind
    }
  }
}

void PgTestServer::start() {
  run(pg_ctl("-o \"-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
             " -c fsync=off -c full_page_writes=off\" start"));
  running_ = true;
}

void PgTestServer::stop() {
  run(pg_ctl("-m fast stop"));
  running_ = false;
}

PgTestServer::~PgTestServer() {
  if (running_) {
    try {
      run(pg_ctl("-m immediate stop"));
    } catch (const std::exception&) {
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PgTestServer::conninfo(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=mailseal dbname=" + dbname;
}

std::string PgTestServer::new_database() {
  std::string name = "t" + std::to_string(++databases_);
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(conninfo("postgres").c_str()),
                                                 &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("test PostgreSQL: ") + PQerrorMessage(c.get()));
  PGresult* r = PQexec(c.get(), ("CREATE DATABASE " + name).c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) throw std::runtime_error(std::string("test PostgreSQL: ") + PQerrorMessage(c.get()));
  return conninfo(name);
}

}  // namespace mailseal::keys::testing
