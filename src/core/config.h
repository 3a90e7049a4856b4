// The one configuration type: every key, its type, default and bounds is declared in
// config.cpp, parsed once at start into these immutable structs. Relative paths in the
// file are resolved against the directory of the configuration file.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "smtp/data_decoder.h"

namespace mailseal::core {

struct Network {                           // CIDR block, e.g. 10.0.0.0/8 or ::1/128
  std::array<std::uint8_t, 16> address{};  // IPv4 stored as IPv4-mapped IPv6
  int prefix = 128;
  bool contains(const std::array<std::uint8_t, 16>& addr) const;
};
std::optional<Network> parse_network(std::string_view text);
// Parses an IPv4 or IPv6 address into the IPv4-mapped form used by Network.
std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text);

// mx: direct delivery to the recipient domain's MX hosts (RFC 5321 section 5), queue mode.
enum class NextHopKind { smtp, lmtp, maildir, mx };
enum class TlsPolicy { none, opportunistic, verify };

struct NextHopConfig {
  NextHopKind kind = NextHopKind::maildir;
  std::string host;  // smtp/lmtp
  std::uint16_t port = 25;
  std::filesystem::path path;  // maildir; "%r" is replaced by the recipient address
  TlsPolicy tls = TlsPolicy::opportunistic;
  std::filesystem::path ca_file;  // for tls = "verify"; empty = system store
  std::string tls_name;           // name expected in the certificate; default: host
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  // smtp/lmtp: how long an idle session is kept for the next message (connection_cache_time);
  // 0 = a new connection per message (connection_cache = false).
  std::chrono::seconds connection_cache_time{2};
  // mx: use DNSSEC-validated TLSA records (RFC 7672) when the MX has them.
  bool dane = true;
};

struct TlsServerConfig {
  std::filesystem::path certificate;  // PEM chain
  std::filesystem::path key;          // PEM private key
  bool enabled() const { return !certificate.empty(); }
};

// proxy: the client's DATA is answered only after the next hop took the message.
// queue: answered once the (sealed or opened) copies are on disk; delivered later.
enum class RelayMode { proxy, queue };

struct ListenerConfig {
  std::string name;  // "inside" or "outside"
  RelayMode mode = RelayMode::proxy;
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  std::vector<Network> client_networks;       // inside: who may connect
  std::vector<std::string> internal_domains;  // outside: accepted recipient domains
  std::size_t max_message_size = 50 * 1024 * 1024;
  std::size_t max_recipients = 1000;
  std::size_t max_connections = 2500;
  std::size_t max_connections_per_client = 200;
  std::size_t max_errors = 10;
  std::size_t max_command_length = 2048;
  std::size_t max_line_length = 998;
  smtp::BareLineEndings bare_line_endings = smtp::BareLineEndings::refuse;
  std::chrono::seconds idle_timeout{300};
  std::chrono::seconds data_timeout{600};
  TlsServerConfig tls;
  bool require_tls = false;
  // SMTP AUTH over TLS (inside): "user:crypt-hash" lines, e.g. from `openssl passwd -6`.
  // A client outside client_networks may then connect but must authenticate.
  std::filesystem::path auth_passwords;
  NextHopConfig next_hop;
};

// Outbound (inside) sealing. Values are validated choices; app/ maps them onto the
// gateway's filter options.
struct SealConfig {
  bool enabled = false;
  std::string cipher = "aes-256-cbc";     // aes-256-cbc | aes-256-gcm
  std::string rsa_padding = "pkcs1";      // pkcs1 | oaep
  std::string signing = "detached";       // detached | opaque
  std::string no_certificate = "refuse";  // refuse | sign-only | plain
  std::string no_secret_key = "refuse";   // refuse | encrypt-only
  bool allow_from_mismatch = false;       // From may differ from the envelope sender
  // Formats in preference order ("smime", "openpgp"): per recipient the first one for
  // which it has a usable key; a message to both kinds becomes one copy per format.
  std::vector<std::string> formats = {"smime", "openpgp"};
};

// Inbound (outside) opening: what to do per verdict (reject | tag).
struct OpenConfig {
  bool enabled = false;
  std::string from_mismatch = "reject";
  std::string untrusted = "tag";
  std::string expired = "tag";
  std::string revoked = "reject";
  std::string undecryptable = "tag";
  std::size_t max_layers = 4;
  // From-address domains (lower case) whose mail must carry a signature bound to From.
  std::vector<std::string> require_signature_from;
  // Issue 6: file the keys of fully verified inbound signers under their From address.
  bool harvest = true;
};

// Store-and-forward (sides in queue mode): retries, warnings, lifetime, concurrency.
struct QueueConfig {
  std::chrono::seconds retry_min{300};        // first back-off, doubled per attempt
  std::chrono::seconds retry_max{3600};       // back-off ceiling
  std::chrono::seconds warn_after{4 * 3600};  // "delayed" DSN once (0 = never)
  std::chrono::seconds lifetime{5 * 24 * 3600};
  std::size_t destination_concurrency = 20;  // deliveries in flight per destination
  std::size_t max_deliveries = 100;          // deliveries in flight in all
};

// DNS for direct delivery (MX, A/AAAA, TLSA) through libunbound; see dns/resolver.h.
struct DnsConfig {
  // Recursive resolver that gets every query; empty = the nameservers of /etc/resolv.conf.
  std::string resolver_address;
  std::uint16_t resolver_port = 53;
  // DS/DNSKEY lines (zone file format); empty = /usr/share/dns/root.key when it exists.
  std::filesystem::path trust_anchor;
  bool dnssec = true;  // false: no validation, so nothing is secure and DANE never applies
  std::chrono::seconds timeout{10};  // per lookup, also when the resolver is dead
};

// [keys.pkcs11]: S/MIME secret keys held in a PKCS#11 token (keys/pkcs11_key_source.h).
struct Pkcs11Config {
  std::filesystem::path module;    // the token's PKCS#11 library; empty = no token
  std::string token;               // token label
  std::filesystem::path pin_file;  // user PIN, mode 0600
  bool enabled() const { return !module.empty(); }
};

// [keys.ldap]: correspondents' public keys from a directory server (keys/ldap_source.h).
struct LdapConfig {
  std::string url;      // ldap://host[:port] or ldaps://host[:port]; empty = not configured
  std::string base_dn;  // searches run in this subtree
  std::string filter = "(mail=%s)";          // %s = the address, RFC 4515-escaped
  std::string bind_dn;                       // empty: anonymous
  std::filesystem::path bind_password_file;  // the password itself never in this file
  std::string starttls = "none";             // none | require (ldap:// only)
  std::filesystem::path ca_file;             // CA for the server's certificate; empty = system
  std::chrono::seconds timeout{10};          // connect, TLS, bind and search, each
  std::string pgp_attribute = "pgpKey";      // attribute holding OpenPGP keys
  bool enabled() const { return !url.empty(); }
};

// [keys.postgresql]: the key store in PostgreSQL, shared by several nodes (keys/pg_db.h).
struct PostgresqlConfig {
  std::string conninfo;                 // libpq keyword form; never holds a password
  std::filesystem::path password_file;  // mode 0600/0640; empty: none (peer, .pgpass)
  std::size_t pool_size = 8;            // idle connections kept open
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds refresh{1};  // how often another node's changes are looked for
};

// [keys.wkd]: OpenPGP keys from the recipient domain's Web Key Directory (keys/wkd_source.h).
struct WkdConfig {
  std::uint16_t port = 443;         // HTTPS port of the WKD hosts (tests use a free port)
  std::filesystem::path ca_file;    // CA for the servers' certificates; empty = system
  std::chrono::seconds timeout{0};  // whole lookup of one address; 0 = [keys.discovery]'s
};

// [keys.dane]: keys in the recipient domain's DNSSEC-signed zone (keys/dane_key_source.h).
struct DaneKeysConfig {
  bool openpgpkey = true;  // OPENPGPKEY, RFC 7929
  bool smimea = true;      // SMIMEA, RFC 8162
};

// [keys.discovery]: cache and timeout shared by "wkd" and "dane" (keys/discovery_cache.h).
struct DiscoveryConfig {
  std::chrono::seconds timeout{5};          // one address's lookup in one source
  std::chrono::seconds positive_ttl{3600};  // a key found is used this long
  std::chrono::seconds negative_ttl{600};   // "no key published" is believed this long
  std::chrono::seconds failure_ttl{60};     // a source that failed is not asked again
};

struct KeysConfig {
  std::filesystem::path master_key;  // empty = <state_dir>/master.key
  std::string store = "sqlite";      // sqlite (<state_dir>/keys.db) | postgresql
  PostgresqlConfig postgresql;
  // Public key sources in the order they are asked: "store" (keys.db), "ldap", "wkd", "dane".
  std::vector<std::string> sources = {"store"};
  LdapConfig ldap;
  Pkcs11Config pkcs11;
  WkdConfig wkd;
  DaneKeysConfig dane;
  DiscoveryConfig discovery;
};

// [revocation]: CRL downloads and OCSP for S/MIME certificates (keys/revocation_checker.h).
struct RevocationConfig {
  std::string ocsp = "soft-fail";  // off | soft-fail | hard-fail
  std::chrono::seconds ocsp_timeout{5};
  std::string ocsp_url;   // empty: the responder named in each certificate (AIA)
  bool crl_fetch = true;  // download CRLs from the certificates' http:// distribution points
  std::chrono::seconds crl_timeout{10};
};

struct Config {
  std::filesystem::path file;  // where it was read from
  std::string hostname = "localhost";
  std::filesystem::path state_dir;  // absolute
  unsigned workers = 0;             // I/O threads; 0 = number of cores
  std::chrono::seconds shutdown_grace{30};
  std::string log_level = "info";
  ListenerConfig inside;
  ListenerConfig outside;
  SealConfig seal;
  OpenConfig open;
  QueueConfig queue;
  DnsConfig dns;
  KeysConfig keys;
  RevocationConfig revocation;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 0 when unknown
  std::string message;
  std::string to_string() const;
};

// Parses and validates; on failure returns every error found (not just the first).
std::variant<Config, std::vector<ConfigError>> load_config(const std::filesystem::path& file);
std::variant<Config, std::vector<ConfigError>> parse_config(std::string_view text,
                                                            const std::filesystem::path& file);

}  // namespace mailseal::core
