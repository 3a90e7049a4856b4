// [keys] store and [keys.postgresql]: defaults, values, and what is refused (a password
// in the conninfo or a URI, a password file others can read, a missing conninfo).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"

namespace mailseal::core {
namespace {

const char* kBase = R"(
[server]
hostname = "gw.example.org"
state_dir = "state"
[inside]
listen = "127.0.0.1:10025"
client_networks = ["127.0.0.0/8"]
[inside.next_hop]
kind = "smtp"
host = "127.0.0.1"
port = 2525
[outside]
listen = "127.0.0.1:10026"
internal_domains = ["example.org"]
[outside.next_hop]
kind = "maildir"
path = "mail/%r"
)";

std::string errors_of(const std::string& extra) {
  auto r = parse_config(std::string(kBase) + extra, "/x/m.toml");
  if (std::holds_alternative<Config>(r)) return "";
  std::string all;
  for (const auto& e : std::get<std::vector<ConfigError>>(r)) all += e.to_string() + "\n";
  return all;
}

TEST(ConfigKeyStore, SqliteByDefault) {
  auto c = std::get<Config>(parse_config(kBase, "/x/m.toml"));
  EXPECT_EQ(c.keys.store, "sqlite");
}

TEST(ConfigKeyStore, PostgresqlValues) {
  auto r = parse_config(std::string(kBase) + R"(
[keys]
store = "postgresql"
[keys.postgresql]
conninfo = "host=db.example.net port=5433 dbname='mail seal' user=mailseal sslmode=verify-full"
pool_size = 4
connect_timeout = "3s"
refresh = "5s"
)",
                        "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r))
      << std::get<std::vector<ConfigError>>(r)[0].to_string();
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.keys.store, "postgresql");
  EXPECT_EQ(c.keys.postgresql.conninfo,
            "host=db.example.net port=5433 dbname='mail seal' user=mailseal sslmode=verify-full");
  EXPECT_EQ(c.keys.postgresql.pool_size, 4u);
  EXPECT_EQ(c.keys.postgresql.connect_timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.keys.postgresql.refresh, std::chrono::seconds(5));
  EXPECT_TRUE(c.keys.postgresql.password_file.empty());
}

TEST(ConfigKeyStore, Refusals) {
  EXPECT_NE(errors_of("[keys]\nstore = \"mysql\"\n").find("keys.store"), std::string::npos);
  EXPECT_NE(errors_of("[keys]\nstore = \"postgresql\"\n").find("needs [keys.postgresql]"),
            std::string::npos);
  EXPECT_NE(errors_of("[keys]\nstore = \"postgresql\"\n[keys.postgresql]\npool_size = 2\n")
                .find("conninfo"),
            std::string::npos);
  auto with_conninfo = [](const std::string& ci) {
    return errors_of("[keys]\nstore = \"postgresql\"\n[keys.postgresql]\nconninfo = \"" + ci +
                     "\"\n");
  };
  EXPECT_NE(with_conninfo("host=db user=m password=hunter2").find("must not hold the password"),
            std::string::npos);
  EXPECT_NE(with_conninfo("host=db user=m password = 'a b'").find("must not hold the password"),
            std::string::npos);
  EXPECT_NE(with_conninfo("postgresql://m:hunter2@db/mailseal").find("keyword form"),
            std::string::npos);
  EXPECT_NE(with_conninfo("host=db dbname='unterminated").find("unterminated"), std::string::npos);
  EXPECT_NE(with_conninfo("host").find("keyword=value"), std::string::npos);
  // A quoted value that merely contains the word is no password keyword.
  EXPECT_EQ(with_conninfo("host=db application_name='password=x'"), "");
}

TEST(ConfigKeyStore, PasswordFileMode) {
  char tmpl[] = "/tmp/mailseal-cfg-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::filesystem::path dir = tmpl;
  auto file = dir / "pg.password";
  std::ofstream(file) << "secret\n";
  auto config =
      "[keys]\nstore = \"postgresql\"\n[keys.postgresql]\nconninfo = \"host=db\"\n"
      "password_file = \"" +
      file.string() + "\"\n";
  ::chmod(file.c_str(), 0644);
  EXPECT_NE(errors_of(config).find("accessible by other users"), std::string::npos);
  ::chmod(file.c_str(), 0640);
  EXPECT_EQ(errors_of(config), "");
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(errors_of(config), "");
  std::filesystem::remove(file);
  EXPECT_NE(errors_of(config).find("No such file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mailseal::core
