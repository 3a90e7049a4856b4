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

enum class NextHopKind { smtp, lmtp, maildir };
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
};

struct TlsServerConfig {
  std::filesystem::path certificate;  // PEM chain
  std::filesystem::path key;          // PEM private key
  bool enabled() const { return !certificate.empty(); }
};

struct ListenerConfig {
  std::string name;  // "inside" or "outside"
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
};

struct KeysConfig {
  std::filesystem::path master_key;  // empty = <state_dir>/master.key
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
  KeysConfig keys;
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
