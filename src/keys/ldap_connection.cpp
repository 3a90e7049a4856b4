// libldap behind LdapConnection (see ldap_connection.h). Only the non-deprecated API of
// OpenLDAP 2.5 is used; libldap is thread-safe, but one handle serves one caller at a time.
#include "keys/ldap_connection.h"

#include <ldap.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <ctime>
#include <string_view>

#include "keys/sigpipe_guard.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

timeval to_timeval(std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  return tv;
}

// "Can't contact LDAP server", plus the server's diagnostic text when it sent one.
std::string describe(LDAP* ld, int rc) {
  std::string s = ldap_err2string(rc);
  char* diag = nullptr;
  if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS && diag) {
    // libldap fills in "(unknown error code)" when it has nothing to add.
    if (*diag && std::string_view(diag) != "(unknown error code)")
      s += std::string(" (") + diag + ")";
    ldap_memfree(diag);
  }
  return s;
}

// Result codes that say the connection, not the request, failed.
bool connection_gone(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
         rc == LDAP_TIMELIMIT_EXCEEDED || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

struct MessageFree {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageFree>;

struct Handle {  // owns the LDAP* until open() succeeds
  LDAP* ld = nullptr;
  ~Handle() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

Result<bool> set_options(LDAP* ld, const LdapOptions& o) {
  int version = LDAP_VERSION3;
  timeval tv = to_timeval(o.timeout);
  int demand = LDAP_OPT_X_TLS_DEMAND;  // verify the server's certificate and name
  int min_tls = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  int size_limit = LdapConnection::kMaxEntries;
  int new_ctx = 0;  // 0: a client context
  bool ok = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS &&
            // A referral could send the search (and the bind) to a server nobody chose.
            ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_SIZELIMIT, &size_limit) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_tls) == LDAP_OPT_SUCCESS;
  if (ok && !o.ca_file.empty())
    ok = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, o.ca_file.c_str()) == LDAP_OPT_SUCCESS;
  // Per-connection TLS settings take effect only in a new TLS context.
  if (ok) ok = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &new_ctx) == LDAP_OPT_SUCCESS;
  if (!ok) return fail("cannot set connection options");
  return true;
}

// Simple bind with an explicit deadline (the synchronous call would rely on the global
// LDAP_OPT_TIMEOUT, which not every libldap version applies to binds).
Result<bool> bind(LDAP* ld, const LdapOptions& o) {
  berval cred{};
  cred.bv_val = const_cast<char*>(reinterpret_cast<const char*>(o.bind_password.data()));
  cred.bv_len = o.bind_password.size();
  int msgid = 0;
  int rc = ldap_sasl_bind(ld, o.bind_dn.empty() ? "" : o.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred,
                          nullptr, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) return fail("bind: " + describe(ld, rc));
  timeval tv = to_timeval(o.timeout);
  LDAPMessage* raw = nullptr;
  int got = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &raw);
  MessagePtr res(raw);
  if (got == 0) return fail("bind: timed out after " + std::to_string(o.timeout.count()) + " ms");
  if (got < 0) {
    int err = LDAP_SERVER_DOWN;
    ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
    return fail("bind: " + describe(ld, err));
  }
  int result = LDAP_OTHER;
  char* diag = nullptr;
  rc = ldap_parse_result(ld, res.get(), &result, nullptr, &diag, nullptr, nullptr, 0);
  std::string text = diag && *diag ? std::string(" (") + diag + ")" : "";
  if (diag) ldap_memfree(diag);
  if (rc != LDAP_SUCCESS) return fail("bind: " + describe(ld, rc));
  // The DN is configuration, not a secret; the password is never part of a message.
  if (result != LDAP_SUCCESS)
    return fail("bind as \"" + o.bind_dn + "\": " + ldap_err2string(result) + text);
  return true;
}

std::string attribute_name(const char* a) {
  std::string s = util::to_lower(a);
  if (auto semi = s.find(';'); semi != std::string::npos) s.resize(semi);
  return s;
}

}  // namespace

Result<std::unique_ptr<LdapConnection>> LdapConnection::open(const LdapOptions& o) {
  SigpipeGuard guard;
  Handle h;
  int rc = ldap_initialize(&h.ld, o.url.c_str());
  if (rc != LDAP_SUCCESS) return fail("bad URL " + o.url + ": " + ldap_err2string(rc));
  if (auto st = set_options(h.ld, o); !st) return st.take_error();
  if (o.starttls) {
    rc = ldap_start_tls_s(h.ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) return fail("StartTLS: " + describe(h.ld, rc));
  }
  // Always bind, anonymous too: it makes the connection now, so an unreachable server is
  // reported as such rather than as a failed search.
  if (auto st = bind(h.ld, o); !st) return st.take_error();
  std::unique_ptr<LdapConnection> c(new LdapConnection(h.ld));
  h.ld = nullptr;
  return c;
}

LdapConnection::~LdapConnection() {
  SigpipeGuard guard;
  ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

Result<std::vector<LdapEntry>> LdapConnection::search(const LdapOptions& o,
                                                      const std::string& filter,
                                                      const std::vector<std::string>& attributes) {
  SigpipeGuard guard;
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  timeval tv = to_timeval(o.timeout);
  LDAPMessage* raw = nullptr;
  int rc = ldap_search_ext_s(ld_, o.base_dn.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                             attrs.data(), 0, nullptr, nullptr, &tv, kMaxEntries, &raw);
  MessagePtr res(raw);
  // Too many entries: what arrived is still checked against the address by the caller.
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    lost_ = connection_gone(rc);
    return fail("search: " + describe(ld_, rc));
  }
  std::vector<LdapEntry> out;
  for (LDAPMessage* e = ldap_first_entry(ld_, res.get()); e; e = ldap_next_entry(ld_, e)) {
    LdapEntry entry;
    if (char* dn = ldap_get_dn(ld_, e)) {
      entry.dn = dn;
      ldap_memfree(dn);
    }
    BerElement* ber = nullptr;
    for (char* a = ldap_first_attribute(ld_, e, &ber); a; a = ldap_next_attribute(ld_, e, ber)) {
      std::string name = attribute_name(a);
      if (berval** vals = ldap_get_values_len(ld_, e, a)) {
        for (berval** v = vals; *v; ++v)
          entry.values.emplace_back(name, std::string((*v)->bv_val, (*v)->bv_len));
        ldap_value_free_len(vals);
      }
      ldap_memfree(a);
    }
    if (ber) ber_free(ber, 0);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace mailseal::keys
