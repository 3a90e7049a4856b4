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
  else if (kind == "mx")
    hop.kind = NextHopKind::mx;
  else
    r.error(t->get("kind"), prefix + ".kind must be \"smtp\", \"lmtp\", \"maildir\" or \"mx\"");
  if (hop.kind == NextHopKind::maildir) {
    hop.path = r.get_path(*t, prefix, "path", "", true);
  } else if (hop.kind == NextHopKind::mx) {
    hop.port = static_cast<std::uint16_t>(r.get_int(*t, prefix, "port", 25, 1, 65535));
    hop.dane = r.get_bool(*t, prefix, "dane", true);
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
  if (hop.kind == NextHopKind::smtp || hop.kind == NextHopKind::lmtp) {
    const bool cache = r.get_bool(*t, prefix, "connection_cache", true);
    hop.connection_cache_time =
        r.get_duration(*t, prefix, "connection_cache_time", hop.connection_cache_time);
    if (!cache) hop.connection_cache_time = std::chrono::seconds(0);
  }
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
  std::string mode = r.get_string(*t, name, "mode", "proxy");
  if (mode == "proxy")
    l.mode = RelayMode::proxy;
  else if (mode == "queue")
    l.mode = RelayMode::queue;
  else
    r.error(t->get("mode"), name + ".mode must be \"proxy\" or \"queue\"");
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

void read_queue(ConfigReader& r, const toml::table& root, QueueConfig& q) {
  static const toml::table empty;
  const toml::table* qt = root["queue"].as_table();
  const toml::table& t = qt ? *qt : empty;
  q.retry_min = r.get_duration(t, "queue", "retry_min", q.retry_min);
  q.retry_max = r.get_duration(t, "queue", "retry_max", q.retry_max);
  if (q.retry_max < q.retry_min)
    r.error(t.get("retry_max"), "queue.retry_max must not be shorter than queue.retry_min");
  if (t.contains("warn_after") && t.get("warn_after")->value<long long>() == 0) {
    r.get_int(t, "queue", "warn_after", 0, 0, 0);  // 0 = no delay warnings
    q.warn_after = std::chrono::seconds(0);
  } else {
    q.warn_after = r.get_duration(t, "queue", "warn_after", q.warn_after);
  }
  q.lifetime = r.get_duration(t, "queue", "lifetime", q.lifetime);
  q.destination_concurrency =
      r.get_size(t, "queue", "destination_concurrency", q.destination_concurrency, 1, 1000);
  q.max_deliveries = r.get_size(t, "queue", "max_deliveries", q.max_deliveries, 1, 10000);
  r.check_unknown(t, "queue");
}

// [dns] resolver: "ADDRESS" or "ADDRESS:PORT", IPv6 as "[::1]:5353" (a bare IPv6 address
// without port is accepted too). Stored split so the resolver need not parse it again.
void read_dns(ConfigReader& r, const toml::table& root, DnsConfig& d) {
  static const toml::table empty;
  const toml::table* dt = root["dns"].as_table();
  const toml::table& t = dt ? *dt : empty;
  std::string resolver = r.get_string(t, "dns", "resolver", "");
  if (!resolver.empty()) {
    std::string address = resolver;
    std::string port;
    if (resolver.front() == '[') {
      auto close = resolver.find(']');
      address = resolver.substr(1, close == std::string::npos ? 0 : close - 1);
      if (close != std::string::npos && close + 1 < resolver.size()) {
        if (resolver[close + 1] == ':')
          port = resolver.substr(close + 2);
        else
          address.clear();
      }
    } else if (std::count(resolver.begin(), resolver.end(), ':') == 1) {
      address = resolver.substr(0, resolver.find(':'));
      port = resolver.substr(resolver.find(':') + 1);
    }
    int port_number = 53;
    if (!port.empty()) {
      try {
        std::size_t used = 0;
        port_number = std::stoi(port, &used);
        if (used != port.size()) port_number = 0;
      } catch (...) {
        port_number = 0;
      }
    }
    if (!parse_ip(address) || port_number < 1 || port_number > 65535)
      r.error(t.get("resolver"), "dns.resolver: \"" + resolver +
                                     "\" is not ADDRESS or ADDRESS:PORT (IPv6: \"[::1]:53\")");
    else {
      d.resolver_address = address;
      d.resolver_port = static_cast<std::uint16_t>(port_number);
    }
  }
  d.trust_anchor = r.get_path(t, "dns", "trust_anchor", "", false);
  d.dnssec = r.get_bool(t, "dns", "dnssec", true);
  if (!d.dnssec && !d.trust_anchor.empty())
    r.error(t.get("trust_anchor"), "dns.trust_anchor is set but dns.dnssec is false");
  d.timeout = r.get_duration(t, "dns", "timeout", d.timeout);
  r.check_unknown(t, "dns");
}

// Why an LDAP filter template cannot be used, "" if it can: one parenthesised filter with
// balanced parentheses and at least one %s (keys/ldap_filter.h expands it).
std::string ldap_filter_problem(std::string_view t) {
  if (t.size() < 2 || t.front() != '(' || t.back() != ')')
    return "must be one filter in parentheses, e.g. \"(mail=%s)\"";
  int depth = 0;
  bool has_value = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return "has unbalanced parentheses";
    if (depth == 0 && i + 1 < t.size()) return "must be one filter in parentheses";
    if (c == '%' && i + 1 < t.size()) {
      if (t[i + 1] == 's') has_value = true;
      ++i;  // "%s" or "%%": the next character is not a parenthesis
    }
  }
  if (depth != 0) return "has unbalanced parentheses";
  if (!has_value) return "must contain %s (where the address goes)";
  return "";
}

// True for a URL whose host is this machine: a password sent in clear there stays on it.
bool loopback_url(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return false;
  std::string host = url.substr(start + 3);
  if (auto end = host.find('/'); end != std::string::npos) host.resize(end);
  if (!host.empty() && host.front() == '[') return host.rfind("[::1]", 0) == 0;
  if (auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

// [keys] sources and [keys.ldap] (issue 6). The bind password is only ever named by
// file: the configuration is often world-readable, kept in version control, or printed.
void read_key_sources(ConfigReader& r, const toml::table& k, KeysConfig& keys) {
  if (k.contains("sources")) {
    keys.sources.clear();
    for (const auto& [node, text] : r.get_string_list(k, "keys", "sources")) {
      if (text != "store" && text != "ldap" && text != "pkcs11" && text != "wkd" && text != "dane")
        r.error(node, "keys.sources: \"" + text +
                          "\" is not \"store\", \"ldap\", \"pkcs11\", \"wkd\" or \"dane\"");
      else if (std::find(keys.sources.begin(), keys.sources.end(), text) != keys.sources.end())
        r.error(node, "keys.sources: \"" + text + "\" is listed twice");
      else
        keys.sources.push_back(text);
    }
    // Secret keys (signing, decrypting) live only in the store.
    if (std::find(keys.sources.begin(), keys.sources.end(), "store") == keys.sources.end())
      r.error(k.get("sources"), "keys.sources must list \"store\" (it holds the secret keys)");
  }
  const toml::table* t = k["ldap"].as_table();
  bool wanted = std::find(keys.sources.begin(), keys.sources.end(), "ldap") != keys.sources.end();
  if (!t) {
    if (wanted) r.error(k.get("sources"), "keys.sources lists \"ldap\" but [keys.ldap] is missing");
    return;
  }
  const std::string p = "keys.ldap";
  LdapConfig& l = keys.ldap;
  l.url = r.get_string(*t, p, "url", "", true);
  if (!l.url.empty() && l.url.rfind("ldap://", 0) != 0 && l.url.rfind("ldaps://", 0) != 0)
    r.error(t->get("url"), p + ".url must start with ldap:// or ldaps://");
  l.base_dn = r.get_string(*t, p, "base_dn", "", true);
  l.filter = r.get_string(*t, p, "filter", l.filter);
  if (auto why = ldap_filter_problem(l.filter); !why.empty())
    r.error(t->get("filter"), p + ".filter " + why);
  l.bind_dn = r.get_string(*t, p, "bind_dn", "");
  l.bind_password_file = r.get_path(*t, p, "bind_password_file", "", false);
  if (t->contains("bind_password"))
    r.error(t->get("bind_password"),
            p + ".bind_password: put the password in a file (mode 0600) and name it in "
                "bind_password_file");
  if (!l.bind_dn.empty() && l.bind_password_file.empty())
    r.error(t->get("bind_dn"), p + ".bind_dn needs bind_password_file");
  if (l.bind_dn.empty() && !l.bind_password_file.empty())
    r.error(t->get("bind_password_file"), p + ".bind_password_file needs bind_dn");
  l.starttls = choice(r, *t, p, "starttls", l.starttls, {"none", "require"});
  if (l.starttls == "require" && l.url.rfind("ldaps://", 0) == 0)
    r.error(t->get("starttls"), p + ".starttls = \"require\" is for ldap:// (ldaps:// is TLS)");
  if (!l.bind_dn.empty() && l.url.rfind("ldap://", 0) == 0 && l.starttls == "none" &&
      !loopback_url(l.url))
    r.error(t->get("bind_dn"), p + ": the bind password would cross the network in clear text; "
                                   "use ldaps:// or starttls = \"require\"");
  l.ca_file = r.get_path(*t, p, "ca_file", "", false);
  l.timeout = r.get_duration(*t, p, "timeout", l.timeout);
  if (l.timeout > std::chrono::seconds(300))
    r.error(t->get("timeout"), p + ".timeout must be at most 5m (mail waits for it)");
  l.pgp_attribute = r.get_string(*t, p, "pgp_attribute", l.pgp_attribute);
  if (l.pgp_attribute.empty() ||
      l.pgp_attribute.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-.") != std::string::npos)
    r.error(t->get("pgp_attribute"), p + ".pgp_attribute must be an attribute name");
  r.check_unknown(*t, p, {"bind_password"});
}

// [keys.wkd], [keys.dane], [keys.discovery] (issue 6, discovery of outside keys). All
// optional: "wkd" / "dane" in [keys] sources is what turns a source on.
void read_discovery(ConfigReader& r, const toml::table& k, KeysConfig& keys) {
  static const toml::table empty;
  auto limit = [&](const toml::table& t, const std::string& key, std::chrono::seconds v,
                   std::chrono::seconds lo, std::chrono::seconds hi, const std::string& text) {
    if (v < lo || v > hi) r.error(t.get(key), text);
  };
  const toml::table* dt = k["discovery"].as_table();
  const toml::table& d = dt ? *dt : empty;
  const std::string dp = "keys.discovery";
  DiscoveryConfig& dc = keys.discovery;
  dc.timeout = r.get_duration(d, dp, "timeout", dc.timeout);
  limit(d, "timeout", dc.timeout, std::chrono::seconds(1), std::chrono::seconds(60),
        dp + ".timeout must be between 1s and 1m (mail waits for it)");
  dc.positive_ttl = r.get_duration(d, dp, "positive_ttl", dc.positive_ttl);
  dc.negative_ttl = r.get_duration(d, dp, "negative_ttl", dc.negative_ttl);
  dc.failure_ttl = r.get_duration(d, dp, "failure_ttl", dc.failure_ttl);
  const auto day = std::chrono::seconds(86400);
  limit(d, "positive_ttl", dc.positive_ttl, std::chrono::seconds(0), 7 * day,
        dp + ".positive_ttl must be between 0 and 7d");
  limit(d, "negative_ttl", dc.negative_ttl, std::chrono::seconds(0), day,
        dp + ".negative_ttl must be between 0 and 1d");
  limit(d, "failure_ttl", dc.failure_ttl, std::chrono::seconds(0), std::chrono::seconds(3600),
        dp + ".failure_ttl must be between 0 and 1h");
  r.check_unknown(d, dp);

  const toml::table* wt = k["wkd"].as_table();
  const toml::table& w = wt ? *wt : empty;
  const std::string wp = "keys.wkd";
  keys.wkd.port = static_cast<std::uint16_t>(r.get_int(w, wp, "port", keys.wkd.port, 1, 65535));
  keys.wkd.ca_file = r.get_path(w, wp, "ca_file", "", false);
  keys.wkd.timeout = r.get_duration(w, wp, "timeout", keys.wkd.timeout);
  if (keys.wkd.timeout.count() != 0)
    limit(w, "timeout", keys.wkd.timeout, std::chrono::seconds(1), std::chrono::seconds(60),
          wp + ".timeout must be between 1s and 1m (mail waits for it)");
  r.check_unknown(w, wp);

  const toml::table* nt = k["dane"].as_table();
  const toml::table& n = nt ? *nt : empty;
  if (n.contains("types")) {
    keys.dane.openpgpkey = keys.dane.smimea = false;
    for (const auto& [node, text] : r.get_string_list(n, "keys.dane", "types")) {
      if (text == "openpgpkey")
        keys.dane.openpgpkey = true;
      else if (text == "smimea")
        keys.dane.smimea = true;
      else
        r.error(node, "keys.dane.types: \"" + text + "\" is not \"openpgpkey\" or \"smimea\"");
    }
    if (!keys.dane.openpgpkey && !keys.dane.smimea)
      r.error(n.get("types"), "keys.dane.types must list \"openpgpkey\", \"smimea\" or both");
  }
  r.check_unknown(n, "keys.dane");
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
  c.open.harvest = r.get_bool(o, "open", "harvest", c.open.harvest);
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
  if (const toml::table* p11 = k["pkcs11"].as_table()) {
    // All three are needed: a token without its PIN file could only fail at the first mail.
    c.keys.pkcs11.module = r.get_path(*p11, "keys.pkcs11", "module", "", true);
    c.keys.pkcs11.token = r.get_string(*p11, "keys.pkcs11", "token", "", true);
    c.keys.pkcs11.pin_file = r.get_path(*p11, "keys.pkcs11", "pin_file", "", true);
    if (c.keys.pkcs11.token.size() > 32)
      r.error(p11->get("token"), "keys.pkcs11.token: a token label has at most 32 characters");
    r.check_unknown(*p11, "keys.pkcs11");
  }
  read_key_sources(r, k, c.keys);
  read_key_store(r, k, c.keys);
  // "pkcs11" in sources is optional ([keys.pkcs11] alone enables the token, asked first
  // for secret keys; it serves no public keys, so its place in the list does not matter).
  if (std::find(c.keys.sources.begin(), c.keys.sources.end(), "pkcs11") != c.keys.sources.end() &&
      !c.keys.pkcs11.enabled())
    r.error(k.get("sources"), "keys.sources lists \"pkcs11\" but [keys.pkcs11] is missing");
  read_discovery(r, k, c.keys);
  r.check_unknown(k, "keys", {"pkcs11", "ldap", "postgresql", "wkd", "dane", "discovery"});
}

// [revocation] (issue 6). Timeouts are short: mail waits for them at RCPT and DATA.
void read_revocation(ConfigReader& r, const toml::table& root, RevocationConfig& v) {
  static const toml::table empty;
  const toml::table* t = root["revocation"].as_table();
  const toml::table& s = t ? *t : empty;
  v.ocsp = choice(r, s, "revocation", "ocsp", v.ocsp, {"off", "soft-fail", "hard-fail"});
  v.ocsp_timeout = r.get_duration(s, "revocation", "ocsp_timeout", v.ocsp_timeout);
  if (v.ocsp_timeout.count() < 1 || v.ocsp_timeout > std::chrono::seconds(60))
    r.error(s.get("ocsp_timeout"), "revocation.ocsp_timeout must be between 1s and 1m");
  v.ocsp_url = r.get_string(s, "revocation", "ocsp_url", "");
  if (!v.ocsp_url.empty() && v.ocsp_url.rfind("http://", 0) != 0)
    r.error(s.get("ocsp_url"), "revocation.ocsp_url must be an http:// URL");
  v.crl_fetch = r.get_bool(s, "revocation", "crl_fetch", v.crl_fetch);
  v.crl_timeout = r.get_duration(s, "revocation", "crl_timeout", v.crl_timeout);
  if (v.crl_timeout.count() < 1 || v.crl_timeout > std::chrono::seconds(60))
    r.error(s.get("crl_timeout"), "revocation.crl_timeout must be between 1s and 1m");
  r.check_unknown(s, "revocation");
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
  read_queue(r, root, c.queue);
  read_dns(r, root, c.dns);
  read_revocation(r, root, c.revocation);
  r.check_unknown(
      root, "",
      {"server", "inside", "outside", "seal", "open", "keys", "queue", "dns", "revocation"});
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
