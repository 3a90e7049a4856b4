// Typed, bounded reads from a TOML table with file:line errors; remembers which keys were
// read so that unknown (misspelt) keys are reported instead of silently ignored.
#pragma once

#include <toml++/toml.h>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace mailseal::core {

class ConfigReader {
 public:
  ConfigReader(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  void error(const toml::node* node, std::string message);
  void error_at(int line, std::string message);
  const std::vector<ConfigError>& errors() const { return errors_; }

  std::string get_string(const toml::table& t, const std::string& prefix, const char* key,
                         const std::string& def, bool required = false);
  long long get_int(const toml::table& t, const std::string& prefix, const char* key, long long def,
                    long long min, long long max);
  bool get_bool(const toml::table& t, const std::string& prefix, const char* key, bool def);
  // Integer bytes or a string with K/M/G suffix ("50M").
  std::size_t get_size(const toml::table& t, const std::string& prefix, const char* key,
                       std::size_t def, std::size_t min, std::size_t max);
  // Integer seconds or a string with s/m/h/d suffix ("30s", "5m", "5d"), at most 30 days.
  std::chrono::seconds get_duration(const toml::table& t, const std::string& prefix,
                                    const char* key, std::chrono::seconds def);
  // Relative paths are resolved against the configuration file's directory.
  std::filesystem::path get_path(const toml::table& t, const std::string& prefix, const char* key,
                                 const std::string& def, bool required);
  std::vector<std::pair<const toml::node*, std::string>> get_string_list(const toml::table& t,
                                                                         const std::string& prefix,
                                                                         const char* key);
  void check_unknown(const toml::table& t, const std::string& prefix,
                     std::initializer_list<const char*> also_known = {});

 private:
  const toml::node* use(const toml::table& t, const char* key);
  static std::string full(const std::string& prefix, const char* key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<ConfigError> errors_;
  std::set<std::pair<const toml::table*, std::string>> used_;
};

// [keys] store and [keys.postgresql] (config_key_store.cpp).
void read_key_store(ConfigReader& r, const toml::table& keys, KeysConfig& out);

}  // namespace mailseal::core
