// Configuration schema and validation. Each key is read through ConfigReader, which
// records file:line for every error and flags keys nobody asked for (typos), so that
// `mailseal check-config` can list all problems at once.
#include "core/config.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/config_reader.h"
#include "util/strings.h"

namespace mailseal::core {

std::string ConfigError::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}: {}", file, message);
}

namespace {

void read_next_hop(ConfigReader& r, const toml::table* t, const std::string& prefix,
                   NextHopConfig& hop) {
  if (!t) {
    r.error(nullptr, prefix + ": missing table");
    return;
  }
  std::string kind = r.get_string(*t, prefix, "kind", "maildir");
  if (kind == "smtp")
    hop.kind = NextHopKind::smtp;
  else if (kind == "lmtp")
    hop.kind = NextHopKind::lmtp;
  else if (kind == "maildir")
    hop.kind = NextHopKind::maildir;
  else
    r.error(t->get("kind"), prefix + ".kind must be \"smtp\", \"lmtp\" or \"maildir\"");
  if (hop.kind == NextHopKind::maildir) {
    hop.path = r.get_path(*t, prefix, "path", "", true);
  } else {
    hop.host = r.get_string(*t, prefix, "host", "", true);
    hop.port = static_cast<std::uint16_t>(r.get_int(*t, prefix, "port", 25, 1, 65535));
  }
  std::string tls = r.get_string(*t, prefix, "tls", "opportunistic");
  if (tls == "none")
    hop.tls = TlsPolicy::none;
  else if (tls == "opportunistic")
    hop.tls = TlsPolicy::opportunistic;
  else if (tls == "verify")
    hop.tls = TlsPolicy::verify;
  else
    r.error(t->get("tls"), prefix + ".tls must be \"none\", \"opportunistic\" or \"verify\"");
  hop.ca_file = r.get_path(*t, prefix, "ca_file", "", false);
  hop.tls_name = r.get_string(*t, prefix, "tls_name", hop.host);
  hop.connect_timeout = r.get_duration(*t, prefix, "connect_timeout", hop.connect_timeout);
  hop.command_timeout = r.get_duration(*t, prefix, "command_timeout", hop.command_timeout);
  hop.data_timeout = r.get_duration(*t, prefix, "data_timeout", hop.data_timeout);
  r.check_unknown(*t, prefix);
}

void read_listener(ConfigReader& r, const toml::table& root, const std::string& name,
                   std::uint16_t default_port, ListenerConfig& l) {
  l.name = name;
  const toml::table* t = root[name].as_table();
  if (!t) {
    r.error(nullptr, "missing [" + name + "] table");
    return;
  }
  std::string listen =
      r.get_string(*t, name, "listen", "127.0.0.1:" + std::to_string(default_port));
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    r.error(t->get("listen"), name + ".listen must be ADDRESS:PORT, e.g. \"127.0.0.1:10025\"");
  } else {
    l.address = listen.substr(0, colon);
    if (l.address.size() > 2 && l.address.front() == '[')
      l.address = l.address.substr(1, l.address.size() - 2);
    int port = 0;
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (...) {
    }
    if (port < 1 || port > 65535 || !parse_ip(l.address))
      r.error(t->get("listen"), name + ".listen: bad address or port in \"" + listen + "\"");
    l.port = static_cast<std::uint16_t>(port);
  }
  for (const auto& [node, text] : r.get_string_list(*t, name, "client_networks")) {
    if (auto n = parse_network(text))
      l.client_networks.push_back(*n);
    else
      r.error(node, name + ".client_networks: \"" + text + "\" is not a CIDR network");
  }
  for (const auto& [node, text] : r.get_string_list(*t, name, "internal_domains"))
    l.internal_domains.push_back(util::to_lower(text));
  l.max_message_size =
      r.get_size(*t, name, "max_message_size", l.max_message_size, 1024, std::size_t{1} << 32);
  l.max_recipients = r.get_size(*t, name, "max_recipients", l.max_recipients, 1, 100000);
  l.max_connections = r.get_size(*t, name, "max_connections", l.max_connections, 1, 100000);
  l.max_connections_per_client =
      r.get_size(*t, name, "max_connections_per_client", l.max_connections_per_client, 1, 100000);
  l.max_errors = r.get_size(*t, name, "max_errors", l.max_errors, 1, 1000);
  l.max_command_length =
      r.get_size(*t, name, "max_command_length", l.max_command_length, 512, 65536);
  l.max_line_length = r.get_size(*t, name, "max_line_length", l.max_line_length, 78, 1 << 20);
  std::string bare = r.get_string(*t, name, "bare_line_endings", "refuse");
  if (bare == "refuse")
    l.bare_line_endings = smtp::BareLineEndings::refuse;
  else if (bare == "normalise")
    l.bare_line_endings = smtp::BareLineEndings::normalise;
  else
    r.error(t->get("bare_line_endings"),
            name + ".bare_line_endings must be \"refuse\" or \"normalise\"");
  l.idle_timeout = r.get_duration(*t, name, "idle_timeout", l.idle_timeout);
  l.data_timeout = r.get_duration(*t, name, "data_timeout", l.data_timeout);
  l.require_tls = r.get_bool(*t, name, "require_tls", false);
  if (const toml::table* tls = (*t)["tls"].as_table()) {
    l.tls.certificate = r.get_path(*tls, name + ".tls", "certificate", "", true);
    l.tls.key = r.get_path(*tls, name + ".tls", "key", "", true);
    r.check_unknown(*tls, name + ".tls");
  }
  l.auth_passwords = r.get_path(*t, name, "auth_passwords", "", false);
  if (!l.auth_passwords.empty() && !l.tls.enabled())
    r.error(t->get("auth_passwords"),
            name + ".auth_passwords needs [" + name + ".tls]: credentials only over TLS");
  if (l.require_tls && !l.tls.enabled())
    r.error(t->get("require_tls"), name + ".require_tls needs [" + name + ".tls]");
  read_next_hop(r, (*t)["next_hop"].as_table(), name + ".next_hop", l.next_hop);
  r.check_unknown(*t, name, {"tls", "next_hop"});
}

std::string choice(ConfigReader& r, const toml::table& t, const std::string& prefix,
                   const char* key, const std::string& def,
                   std::initializer_list<const char*> allowed) {
  std::string v = r.get_string(t, prefix, key, def);
  for (const char* a : allowed)
    if (v == a) return v;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + "\"" + a + "\"";
  r.error(t.get(key), prefix + "." + key + " must be one of " + list);
  return def;
}

void read_seal_open(ConfigReader& r, const toml::table& root, Config& c) {
  static const toml::table empty;
  const toml::table* st = root["seal"].as_table();
  const toml::table& s = st ? *st : empty;
  c.seal.enabled = r.get_bool(s, "seal", "enabled", st != nullptr);
  c.seal.cipher = choice(r, s, "seal", "cipher", c.seal.cipher, {"aes-256-cbc", "aes-256-gcm"});
  c.seal.rsa_padding = choice(r, s, "seal", "rsa_padding", c.seal.rsa_padding, {"pkcs1", "oaep"});
  c.seal.signing = choice(r, s, "seal", "signing", c.seal.signing, {"detached", "opaque"});
  c.seal.no_certificate = choice(r, s, "seal", "no_certificate", c.seal.no_certificate,
                                 {"refuse", "sign-only", "plain"});
  c.seal.no_secret_key =
      choice(r, s, "seal", "no_secret_key", c.seal.no_secret_key, {"refuse", "encrypt-only"});
  c.seal.allow_from_mismatch = r.get_bool(s, "seal", "allow_from_mismatch", false);
  if (s.contains("formats")) {
    c.seal.formats.clear();
    for (const auto& [node, text] : r.get_string_list(s, "seal", "formats")) {
      if (text != "smime" && text != "openpgp")
        r.error(node, "seal.formats: \"" + text + "\" is not \"smime\" or \"openpgp\"");
      else if (std::find(c.seal.formats.begin(), c.seal.formats.end(), text) !=
               c.seal.formats.end())
        r.error(node, "seal.formats: \"" + text + "\" is listed twice");
      else
        c.seal.formats.push_back(text);
    }
    if (c.seal.formats.empty()) {
      r.error(s.get("formats"), "seal.formats must list at least one format");
      c.seal.formats = {"smime", "openpgp"};
    }
  }
  r.check_unknown(s, "seal");

  const toml::table* ot = root["open"].as_table();
  const toml::table& o = ot ? *ot : empty;
  c.open.enabled = r.get_bool(o, "open", "enabled", ot != nullptr);
  for (auto [key, field] :
       {std::pair{"from_mismatch", &c.open.from_mismatch},
        std::pair{"untrusted", &c.open.untrusted}, std::pair{"expired", &c.open.expired},
        std::pair{"revoked", &c.open.revoked}, std::pair{"undecryptable", &c.open.undecryptable}})
    *field = choice(r, o, "open", key, *field, {"reject", "tag"});
  c.open.max_layers = r.get_size(o, "open", "max_layers", c.open.max_layers, 1, 16);
  for (const auto& [node, text] : r.get_string_list(o, "open", "require_signature_from")) {
    if (text.empty() || text.find_first_of("@ \t") != std::string::npos)
      r.error(node, "open.require_signature_from: \"" + text + "\" is not a domain");
    else
      c.open.require_signature_from.push_back(util::to_lower(text));
  }
  r.check_unknown(o, "open");

  const toml::table* kt = root["keys"].as_table();
  const toml::table& k = kt ? *kt : empty;
  c.keys.master_key = r.get_path(k, "keys", "master_key", "", false);
  r.check_unknown(k, "keys");
}

}  // namespace

std::variant<Config, std::vector<ConfigError>> parse_config(std::string_view text,
                                                            const std::filesystem::path& file) {
  std::filesystem::path abs = std::filesystem::absolute(file);
  ConfigReader r(abs.string(), abs.parent_path());
  toml::table root;
  try {
    root = toml::parse(text, abs.string());
  } catch (const toml::parse_error& e) {
    r.error_at(static_cast<int>(e.source().begin.line), std::string(e.description()));
    return r.errors();
  }
  Config c;
  c.file = abs;
  const toml::table* server = root["server"].as_table();
  static const toml::table empty;
  const toml::table& s = server ? *server : empty;
  c.hostname = r.get_string(s, "server", "hostname", "localhost");
  c.state_dir = r.get_path(s, "server", "state_dir", "var", false);
  c.workers = static_cast<unsigned>(r.get_int(s, "server", "workers", 0, 0, 256));
  c.shutdown_grace = r.get_duration(s, "server", "shutdown_grace", c.shutdown_grace);
  c.log_level = r.get_string(s, "server", "log_level", "info");
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  if (!levels.count(c.log_level))
    r.error(s.get("log_level"), "server.log_level must be one of trace, debug, info, warn, error");
  r.check_unknown(s, "server");
  read_listener(r, root, "inside", 10025, c.inside);
  read_listener(r, root, "outside", 10026, c.outside);
  if (c.inside.client_networks.empty())
    r.error(root["inside"].node(),
            "inside.client_networks must list at least one network (the LAN mail server)");
  if (c.outside.internal_domains.empty())
    r.error(root["outside"].node(), "outside.internal_domains must list at least one domain");
  if (c.inside.address == c.outside.address && c.inside.port == c.outside.port)
    r.error(root["outside"].node(), "inside and outside listen on the same address and port");
  read_seal_open(r, root, c);
  r.check_unknown(root, "", {"server", "inside", "outside", "seal", "open", "keys"});
  if (!r.errors().empty()) return r.errors();
  return c;
}

std::variant<Config, std::vector<ConfigError>> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::vector<ConfigError>{{file.string(), 0, "cannot open file"}};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), file);
}

}  // namespace mailseal::core
