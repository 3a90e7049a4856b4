// One connection to a directory server over OpenLDAP's libldap: connect (ldap:// or
// ldaps://), optional StartTLS, simple bind, search. Every step has a deadline (network
// timeout for connect and TLS, operation timeout for bind and search), so a directory
// that hangs delays mail by at most that much instead of blocking a worker for ever.
//
// Not shared between threads: LdapKeySource keeps a small pool and gives each caller
// its own connection. A connection that failed is thrown away, never reused.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "keys/result.h"
#include "keys/secret_bytes.h"

typedef struct ldap LDAP;  // NOLINT: libldap's opaque handle, as <ldap.h> declares it

namespace mailseal::keys {

struct LdapOptions {
  std::string url;                   // ldap://host:port or ldaps://host:port
  std::string base_dn;               // where searches start (subtree)
  std::string filter = "(mail=%s)";  // "%s" = the RFC 4515-escaped address
  std::string bind_dn;               // empty: anonymous
  SecretBytes bind_password;         // read from a file by the caller; never logged
  bool starttls = false;             // ldap:// upgraded with StartTLS, required to succeed
  std::string ca_file;               // CA certificates for the server (empty: system default)
  std::chrono::milliseconds timeout{10000};
  std::string pgp_attribute = "pgpKey";  // attribute holding OpenPGP keys
};

// One entry of a search result: its DN and (attribute, value) pairs; attribute names are
// lower-cased without options ("userCertificate;binary" -> "usercertificate").
struct LdapEntry {
  std::string dn;
  std::vector<std::pair<std::string, std::string>> values;
};

class LdapConnection {
 public:
  // Connects, starts TLS if asked, binds. The error names the step that failed.
  static Result<std::unique_ptr<LdapConnection>> open(const LdapOptions& options);
  ~LdapConnection();
  LdapConnection(const LdapConnection&) = delete;
  LdapConnection& operator=(const LdapConnection&) = delete;

  // Subtree search under options.base_dn. At most kMaxEntries entries are returned
  // (a filter matching more than that for one address is misconfigured or abused).
  Result<std::vector<LdapEntry>> search(const LdapOptions& options, const std::string& filter,
                                        const std::vector<std::string>& attributes);

  // True when the last failure means the connection itself is gone (server restarted,
  // network error, timeout): a caller that reused a pooled connection may retry once.
  bool lost() const { return lost_; }

  static constexpr int kMaxEntries = 16;

 private:
  explicit LdapConnection(LDAP* ld) : ld_(ld) {}
  LDAP* ld_;
  bool lost_ = false;
};

}  // namespace mailseal::keys
