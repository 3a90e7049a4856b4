// Directory values -> candidate keys for an address (see ldap_candidates.h).
#include "keys/ldap_candidates.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <set>

#include "keys/pkcs7_certs.h"
#include "keys/x509_util.h"
#include "openpgp/keyring.h"
#include "openpgp/user_id.h"
#include "util/strings.h"
#include "util/utc_time.h"

namespace mailseal::keys {
namespace {

std::string when(std::int64_t t) {
  return util::utc_timestamp(t);
}

// A certificate value: DER as the ;binary transfer wants it, PEM as some tools store it.
crypto::X509Ptr parse_certificate(std::string_view value) {
  if (value.substr(0, 11) == "-----BEGIN ") {
    crypto::BioPtr bio(BIO_new_mem_buf(value.data(), static_cast<int>(value.size())));
    crypto::X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    ERR_clear_error();
    return cert;
  }
  auto cert = x509_from_der(value);
  ERR_clear_error();
  return cert;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// Why a parsed certificate cannot be used for `address` now, "" when it can.
std::string smime_problem(X509* cert, const std::string& address, std::int64_t nb, std::int64_t na,
                          std::int64_t now) {
  if (is_ca(cert)) return "is a CA certificate";
  auto emails = cert_emails(cert);
  if (std::find(emails.begin(), emails.end(), address) == emails.end())
    return "does not name " + address + (emails.empty() ? "" : " (names " + join(emails) + ")");
  if (now < nb) return "not valid before " + when(nb);
  if (now >= na) return "expired " + when(na);
  return "";
}

LdapCandidate base(const LdapEntry& e, const std::string& attribute, const std::string& address,
                   KeyKind kind) {
  LdapCandidate c;
  c.dn = e.dn;
  c.attribute = attribute;
  c.record.address = address;
  c.record.kind = kind;
  c.record.source = "ldap";
  return c;
}

void add_smime(const LdapEntry& e, const std::string& attr, std::string_view value,
               const std::string& address, std::int64_t now, std::set<std::string>& seen,
               std::vector<LdapCandidate>& out) {
  std::vector<crypto::X509Ptr> certs;
  if (attr == "usersmimecertificate") certs = pkcs7_certificates(value);
  if (certs.empty())  // also a lone certificate filed as userSMIMECertificate
    if (auto c = parse_certificate(value)) certs.push_back(std::move(c));
  if (certs.empty()) {
    auto c = base(e, attr, address, KeyKind::smime);
    c.record.fingerprint = sha256_hex(value);
    c.rejected = "value does not parse as a certificate";
    if (seen.insert(c.record.fingerprint).second) out.push_back(std::move(c));
    return;
  }
  for (auto& cert : certs) {
    auto c = base(e, attr, address, KeyKind::smime);
    c.record.fingerprint = fingerprint(cert.get());
    if (!seen.insert(c.record.fingerprint).second) continue;
    c.description = subject_line(cert.get());
    bool dates = to_unix(X509_get0_notBefore(cert.get()), c.not_before) &&
                 to_unix(X509_get0_notAfter(cert.get()), c.not_after);
    c.rejected = dates ? smime_problem(cert.get(), address, c.not_before, c.not_after, now)
                       : "unreadable validity dates";
    c.record.cert = std::move(cert);
    out.push_back(std::move(c));
  }
}

void add_openpgp(const LdapEntry& e, const std::string& attr, std::string_view value,
                 const std::string& address, openpgp::Keyring& ring, std::set<std::string>& seen,
                 std::vector<LdapCandidate>& out) {
  auto imported = ring.import_keys(value);
  if (!imported || imported->empty()) {
    auto c = base(e, attr, address, KeyKind::openpgp);
    c.record.fingerprint = sha256_hex(value);
    c.rejected = "value does not parse as an OpenPGP key" +
                 (imported ? std::string() : ": " + imported.error().reason);
    if (seen.insert(c.record.fingerprint).second) out.push_back(std::move(c));
    return;
  }
  for (const auto& info : imported.value()) {
    auto c = base(e, attr, address, KeyKind::openpgp);
    c.record.fingerprint = util::to_lower(info.fingerprint());
    if (!seen.insert(c.record.fingerprint).second) continue;
    std::vector<std::string> uids;
    bool carries = false;
    for (const auto& u : info.user_ids) {
      if (!u.valid || u.revoked) continue;
      uids.push_back(u.text);
      carries = carries || openpgp::same_address(u.email, address);
    }
    c.description = join(uids);
    c.not_before = info.primary.created.time_since_epoch().count();
    c.not_after =
        info.primary.expires ? info.primary.expires->time_since_epoch().count() : kLdapNoExpiry;
    if (auto pub = ring.export_public(info.fingerprint(), false)) c.record.openpgp = pub.value();
    if (c.record.openpgp.empty()) {
      c.rejected = "cannot export the public key";
    } else if (!carries) {
      c.rejected = "no valid user ID carries " + address;
    } else if (auto usable = ring.usable_key(info.fingerprint(), openpgp::Usage::encrypt);
               !usable) {
      c.rejected = usable.error().reason;
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::vector<std::string> ldap_attributes(KeyKind kind, const std::string& pgp_attribute) {
  if (kind == KeyKind::openpgp) return {pgp_attribute};
  // ";binary": the transfer option RFC 4523 requires for certificates over LDAPv3.
  return {"userCertificate;binary", "userSMIMECertificate"};
}

std::vector<LdapCandidate> ldap_candidates(const std::vector<LdapEntry>& entries,
                                           std::string_view address, KeyKind kind,
                                           const std::string& pgp_attribute, std::int64_t now) {
  const std::string addr = normalise_address(address);
  const std::string pgp_attr = util::to_lower(pgp_attribute);
  std::vector<LdapCandidate> out;
  std::set<std::string> seen;
  std::optional<openpgp::Keyring> ring;
  for (const auto& e : entries) {
    for (const auto& [attr, value] : e.values) {
      if (kind == KeyKind::smime) {
        if (attr == "usercertificate" || attr == "usersmimecertificate")
          add_smime(e, attr, value, addr, now, seen, out);
        continue;
      }
      if (attr != pgp_attr) continue;
      if (!ring) {
        auto r = openpgp::Keyring::create();
        if (!r) return out;
        ring.emplace(std::move(r).value());
        // Expiry and revocation as of the injected clock, like the store's lookups.
        ring->set_time(openpgp::Seconds(std::chrono::seconds(now)));
      }
      add_openpgp(e, attr, value, addr, *ring, seen, out);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const LdapCandidate& a, const LdapCandidate& b) {
    if (a.rejected.empty() != b.rejected.empty()) return a.rejected.empty();
    return a.not_before > b.not_before;
  });
  return out;
}

}  // namespace mailseal::keys
