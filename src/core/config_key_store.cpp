// [keys] store and [keys.postgresql]: where the key store lives (keys/key_store.h).
// The database password is only ever named by file, never written into the conninfo:
// the configuration is often world-readable, kept in version control, or printed.

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/config_reader.h"

namespace mailseal::core {
namespace {

// The keywords of a libpq keyword/value conninfo ("host=a port=5432 dbname='x y'"), or
// an error text when it does not parse. Values may be single-quoted with \' and \\.
bool conninfo_keywords(std::string_view s, std::vector<std::string>& keys, std::string& why) {
  std::size_t i = 0;
  auto space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  for (space(); i < s.size(); space()) {
    std::size_t start = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string key(s.substr(start, i - start));
    space();
    if (key.empty() || i >= s.size() || s[i] != '=') {
      why = "\"" + key + "\" is not keyword=value";
      return false;
    }
    ++i;
    space();
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i)
        if (s[i] == '\\') ++i;
      if (i >= s.size()) {
        why = "unterminated quoted value of " + key;
        return false;
      }
      ++i;
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) {
        if (s[i] == '\\') ++i;
        ++i;
      }
    }
    keys.push_back(key);
  }
  return true;
}

}  // namespace

void read_key_store(ConfigReader& r, const toml::table& k, KeysConfig& keys) {
  keys.store = r.get_string(k, "keys", "store", keys.store);
  if (keys.store != "sqlite" && keys.store != "postgresql")
    r.error(k.get("store"),
            "keys.store: \"" + keys.store + "\" is not \"sqlite\" or \"postgresql\"");
  const toml::table* t = k["postgresql"].as_table();
  if (!t) {
    if (keys.store == "postgresql")
      r.error(k.get("store"), "keys.store = \"postgresql\" needs [keys.postgresql] conninfo");
    return;
  }
  const std::string p = "keys.postgresql";
  PostgresqlConfig& c = keys.postgresql;
  c.conninfo = r.get_string(*t, p, "conninfo", "", keys.store == "postgresql");
  std::vector<std::string> words;
  std::string why;
  if (c.conninfo.find("://") != std::string::npos)
    r.error(t->get("conninfo"), p + ".conninfo: use the keyword form (host=... dbname=...), "
                                    "not a URI");
  else if (!conninfo_keywords(c.conninfo, words, why))
    r.error(t->get("conninfo"), p + ".conninfo: " + why);
  for (const auto& w : words) {
    if (w == "password")
      r.error(t->get("conninfo"), p + ".conninfo must not hold the password: put it in a file "
                                      "(mode 0600) and name it in password_file");
  }
  c.password_file = r.get_path(*t, p, "password_file", "", false);
  if (!c.password_file.empty()) {
    // Checked here too (not only when connecting), so that check-config reports it.
    struct stat st {};
    if (::stat(c.password_file.c_str(), &st) != 0)
      r.error(t->get("password_file"),
              p + ".password_file " + c.password_file.string() + ": " + std::strerror(errno));
    else if ((st.st_mode & S_IRWXO) != 0)
      r.error(t->get("password_file"), p + ".password_file " + c.password_file.string() +
                                           " is accessible by other users (chmod 600 or 640)");
  }
  c.pool_size = static_cast<std::size_t>(
      r.get_int(*t, p, "pool_size", static_cast<long long>(c.pool_size), 1, 256));
  c.connect_timeout = r.get_duration(*t, p, "connect_timeout", c.connect_timeout);
  if (c.connect_timeout < std::chrono::seconds(1) || c.connect_timeout > std::chrono::seconds(300))
    r.error(t->get("connect_timeout"), p + ".connect_timeout must be 1s to 5m (mail waits for it)");
  c.refresh = r.get_duration(*t, p, "refresh", c.refresh);
  if (c.refresh > std::chrono::seconds(300))
    r.error(t->get("refresh"), p + ".refresh must be at most 5m (it bounds how stale keys may be)");
  r.check_unknown(*t, p);
}

}  // namespace mailseal::core
