// LdapKeySource: correspondents' public keys from a directory server (issue 6). Looks up
// entries by e-mail address (the operator's filter template, default "(mail=%s)", with the
// address RFC 4515-escaped) and reads
//   S/MIME   userCertificate;binary (DER) and userSMIMECertificate (PKCS#7 certs-only),
//   OpenPGP  the configured attribute (default pgpKey; armored or binary keys).
// A directory is not trusted to have filed a key under the right address: a certificate
// is used only if it names the address (subjectAltName / emailAddress), is not a CA and is
// valid now; an OpenPGP key only if a valid user ID carries the address and it has a valid
// encryption-capable key. The same rules as the SQLite store, so a key means the same
// thing wherever it was found. Newest (notBefore / creation) first.
//
// A directory holds no secret keys, trust anchors or CRLs: those calls answer empty
// without asking the server, so signing and inbound mail do not depend on it.
//
// Failures (connect, TLS, bind, search, timeout) are a SourceError{"ldap", reason}: the
// gateway answers 451 and the client retries; each failure is logged once per outage and
// the recovery is logged too. Threads: each caller gets its own connection from a small
// pool; a failed connection is dropped and the next call connects afresh, so the source
// recovers by itself when the server is back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keys/key_source.h"
#include "keys/ldap_candidates.h"
#include "keys/ldap_connection.h"

namespace mailseal::keys {

class LdapKeySource final : public PublicKeySource {
 public:
  enum class LogLevel { info, warn };
  using Logger = std::function<void(LogLevel, const std::string&)>;
  using Clock = std::function<std::int64_t()>;  // seconds since the epoch (tests inject)

  explicit LdapKeySource(LdapOptions options, Clock now = {}, Logger log = {});
  ~LdapKeySource() override;

  std::string name() const override { return "ldap"; }
  std::vector<PublicKeyRecord> find_public(std::string_view address, KeyKind kind,
                                           std::optional<SourceError>& error) override;

  // Everything the directory returned for the address, usable or not, with the reason
  // when not (for `mailseal keys lookup`). find_public() is the usable subset.
  LdapInspection inspect(std::string_view address, KeyKind kind, std::optional<SourceError>& error);

  const std::string& url() const { return options_.url; }
  const std::string& base_dn() const { return options_.base_dn; }

 private:
  Result<std::vector<LdapEntry>> search(const std::string& filter,
                                        const std::vector<std::string>& attributes);
  std::unique_ptr<LdapConnection> take_idle();
  void give_back(std::unique_ptr<LdapConnection> c);
  void report_failure(const std::string& reason);
  void report_success();

  LdapOptions options_;
  Clock now_;
  Logger log_;
  std::mutex mu_;
  std::vector<std::unique_ptr<LdapConnection>> idle_;  // guarded by mu_
  std::atomic<bool> down_{false};                      // a failure was logged and no success since
};

}  // namespace mailseal::keys
