// ConfigReader: the typed accessors behind config.cpp.
#include "core/config_reader.h"

#include <charconv>

namespace mailseal::core {

void ConfigReader::error(const toml::node* node, std::string message) {
  errors_.push_back(
      {file_, node ? static_cast<int>(node->source().begin.line) : 0, std::move(message)});
}

void ConfigReader::error_at(int line, std::string message) {
  errors_.push_back({file_, line, std::move(message)});
}

const toml::node* ConfigReader::use(const toml::table& t, const char* key) {
  used_.insert({&t, key});
  return t.get(key);
}

std::string ConfigReader::get_string(const toml::table& t, const std::string& prefix,
                                     const char* key, const std::string& def, bool required) {
  const toml::node* n = use(t, key);
  if (!n) {
    if (required) error(&t, full(prefix, key) + " is required");
    return def;
  }
  if (auto v = n->value<std::string>()) return *v;
  error(n, full(prefix, key) + " must be a string");
  return def;
}

long long ConfigReader::get_int(const toml::table& t, const std::string& prefix, const char* key,
                                long long def, long long min, long long max) {
  const toml::node* n = use(t, key);
  if (!n) return def;
  auto v = n->value<long long>();
  if (!v || !n->is_integer()) {
    error(n, full(prefix, key) + " must be an integer");
    return def;
  }
  if (*v < min || *v > max) {
    error(n, full(prefix, key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max));
    return def;
  }
  return *v;
}

bool ConfigReader::get_bool(const toml::table& t, const std::string& prefix, const char* key,
                            bool def) {
  const toml::node* n = use(t, key);
  if (!n) return def;
  if (auto v = n->value<bool>(); v && n->is_boolean()) return *v;
  error(n, full(prefix, key) + " must be true or false");
  return def;
}

namespace {
// "50M" -> 50 * 2^20; "30s" -> 30. Returns false on a bad number or unit.
bool parse_with_unit(const std::string& s, const std::string& units,
                     const std::vector<unsigned long long>& factors, unsigned long long& out) {
  unsigned long long n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p == s.data()) return false;
  std::string unit(p, s.data() + s.size());
  if (unit.empty()) {
    out = n;
    return true;
  }
  auto pos = units.find(unit.size() == 1 ? unit[0] : '\0');
  if (unit.size() != 1 || pos == std::string::npos) return false;
  out = n * factors[pos];
  return true;
}
}  // namespace

std::size_t ConfigReader::get_size(const toml::table& t, const std::string& prefix, const char* key,
                                   std::size_t def, std::size_t min, std::size_t max) {
  const toml::node* n = use(t, key);
  if (!n) return def;
  unsigned long long v = 0;
  bool ok = false;
  if (auto i = n->value<long long>(); i && n->is_integer() && *i >= 0) {
    v = static_cast<unsigned long long>(*i);
    ok = true;
  } else if (auto s = n->value<std::string>()) {
    ok = parse_with_unit(*s, "KMG", {1ULL << 10, 1ULL << 20, 1ULL << 30}, v);
  }
  if (!ok) {
    error(n, full(prefix, key) + " must be a size in bytes, or a string like \"50M\"");
    return def;
  }
  if (v < min || v > max) {
    error(n, full(prefix, key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max) + " bytes");
    return def;
  }
  return static_cast<std::size_t>(v);
}

std::chrono::seconds ConfigReader::get_duration(const toml::table& t, const std::string& prefix,
                                                const char* key, std::chrono::seconds def) {
  const toml::node* n = use(t, key);
  if (!n) return def;
  unsigned long long v = 0;
  bool ok = false;
  if (auto i = n->value<long long>(); i && n->is_integer() && *i >= 0) {
    v = static_cast<unsigned long long>(*i);
    ok = true;
  } else if (auto s = n->value<std::string>()) {
    ok = parse_with_unit(*s, "smhd", {1, 60, 3600, 86400}, v);
  }
  if (!ok || v == 0 || v > 30 * 24 * 3600) {
    error(n, full(prefix, key) + " must be a duration between 1s and 30 days: seconds, or " +
                 "\"30s\", \"5m\", \"1h\", \"5d\"");
    return def;
  }
  return std::chrono::seconds(v);
}

std::filesystem::path ConfigReader::get_path(const toml::table& t, const std::string& prefix,
                                             const char* key, const std::string& def,
                                             bool required) {
  std::string s = get_string(t, prefix, key, def, required);
  if (s.empty()) return {};
  std::filesystem::path p(s);
  if (p.is_relative()) p = base_dir_ / p;
  return p.lexically_normal();
}

std::vector<std::pair<const toml::node*, std::string>> ConfigReader::get_string_list(
    const toml::table& t, const std::string& prefix, const char* key) {
  std::vector<std::pair<const toml::node*, std::string>> out;
  const toml::node* n = use(t, key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    error(n, full(prefix, key) + " must be a list of strings");
    return out;
  }
  for (const toml::node& item : *a) {
    if (auto v = item.value<std::string>())
      out.emplace_back(&item, *v);
    else
      error(&item, full(prefix, key) + " must contain only strings");
  }
  return out;
}

void ConfigReader::check_unknown(const toml::table& t, const std::string& prefix,
                                 std::initializer_list<const char*> also_known) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    bool known = used_.count({&t, key}) > 0;
    for (const char* a : also_known) known = known || key == a;
    if (!known) error(&v, "unknown key " + full(prefix, key.c_str()));
  }
}

}  // namespace mailseal::core
