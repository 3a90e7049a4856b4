// Harvester: the key checks and the idempotent write (see harvester.h).
#include "keys/harvester.h"

#include <algorithm>

#include <openssl/x509v3.h>

#include "keys/address.h"
#include "keys/openpgp_row.h"
#include "keys/x509_util.h"
#include "openpgp/user_id.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

HarvestResult outcome(HarvestOutcome o, std::string fingerprint, std::string detail = {}) {
  return HarvestResult{o, std::move(fingerprint), std::move(detail)};
}

// A message is small, and a key carried in it is smaller still; anything bigger is not a
// key we want to parse on the mail path.
constexpr std::size_t kMaxKeyData = 256 * 1024;

}  // namespace

const char* harvest_outcome_name(HarvestOutcome o) {
  switch (o) {
    case HarvestOutcome::stored:
      return "stored";
    case HarvestOutcome::known:
      return "known";
    case HarvestOutcome::refused:
      return "refused";
    case HarvestOutcome::failed:
      return "failed";
  }
  return "?";
}

Harvester::Harvester(KeyStore& store, Log log, Clock now)
    : store_(store), log_(std::move(log)), now_(now ? std::move(now) : Clock(system_now)) {}

HarvestResult Harvester::logged(std::string_view from, KeyKind kind, HarvestResult r) {
  if (log_ && r.outcome != HarvestOutcome::known) log_(from, kind, r);
  return r;
}

HarvestResult Harvester::add_smime(std::string_view from, X509* cert) {
  return logged(from, KeyKind::smime, harvest_smime(from, cert));
}

HarvestResult Harvester::add_openpgp(std::string_view from, std::string_view key_data,
                                     std::string_view signer_fingerprint,
                                     std::string_view signing_key_fingerprint) {
  return logged(from, KeyKind::openpgp,
                harvest_openpgp(from, key_data, signer_fingerprint, signing_key_fingerprint));
}

bool Harvester::own_address(const std::string& address) const {
  std::size_t at = address.rfind('@');
  std::string domain = at == std::string::npos ? "" : util::to_lower(address.substr(at + 1));
  return std::find(own_domains_.begin(), own_domains_.end(), domain) != own_domains_.end();
}

Result<bool> Harvester::stored(const std::string& address, KeyKind kind,
                               const std::string& fingerprint) {
  // The cached lookup answers the common case (a correspondent who writes again).
  std::optional<SourceError> err;
  for (const auto& r : store_.find_public(address, kind, err))
    if (util::to_lower(r.fingerprint) == fingerprint) return true;
  if (err) return fail(err->reason);
  // Not valid now, or not there: a stored but expired/revoked key must not be replaced
  // either (never overwrite), so look at every row of the address.
  auto all = store_.list(address);
  if (!all) return all.take_error();
  for (const auto& c : all.value())
    if (c.kind == kind && util::to_lower(c.fingerprint) == fingerprint) return true;
  return false;
}

HarvestResult Harvester::harvest_smime(std::string_view from, X509* cert) {
  if (!cert) return outcome(HarvestOutcome::refused, "", "no certificate");
  const std::string addr = normalise_address(from);
  const std::string fp = fingerprint(cert);
  if (!is_valid_address(addr)) return outcome(HarvestOutcome::refused, fp, "not an address");
  if (own_address(addr)) return outcome(HarvestOutcome::refused, fp, "an internal address");
  auto names = cert_emails(cert);
  if (std::find(names.begin(), names.end(), addr) == names.end())
    return outcome(HarvestOutcome::refused, fp, "certificate is not issued for " + addr);
  // Only a certificate the correspondent can decrypt with is worth filing: the seal side
  // would encrypt replies to a signing-only certificate (separate signing and encryption
  // keys are common), and the reply would be unreadable. RFC 8550 4.4.2: keyEncipherment
  // (RSA key transport) or keyAgreement (EC); no keyUsage extension = any use.
  if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) &&
      !(X509_get_key_usage(cert) & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
    return outcome(HarvestOutcome::refused, fp, "certificate is for signing only");
  auto known = stored(addr, KeyKind::smime, fp);
  if (!known) return outcome(HarvestOutcome::failed, fp, known.error());
  if (known.value()) return outcome(HarvestOutcome::known, fp);
  auto w = store_.begin_write();
  if (!w) return outcome(HarvestOutcome::failed, fp, w.error());
  if (auto st = w->add_certificate(addr, cert); !st)
    return outcome(HarvestOutcome::failed, fp, st.error());
  if (auto st = w->commit(); !st) return outcome(HarvestOutcome::failed, fp, st.error());
  return outcome(HarvestOutcome::stored, fp);
}

HarvestResult Harvester::harvest_openpgp(std::string_view from, std::string_view key_data,
                                         std::string_view signer_fingerprint,
                                         std::string_view signing_key_fingerprint) {
  const std::string addr = normalise_address(from);
  const std::string fp = util::to_lower(signer_fingerprint);
  const std::string signing = util::to_lower(signing_key_fingerprint);
  if (fp.empty() || signing.empty())
    return outcome(HarvestOutcome::refused, fp, "signer key not identified");
  if (!is_valid_address(addr)) return outcome(HarvestOutcome::refused, fp, "not an address");
  if (own_address(addr)) return outcome(HarvestOutcome::refused, fp, "an internal address");
  if (key_data.empty() || key_data.size() > kMaxKeyData)
    return outcome(HarvestOutcome::refused, fp, "no key data, or too large");
  // Cheap first: the signer's key already filed under From means nothing to parse.
  auto known = stored(addr, KeyKind::openpgp, fp);
  if (!known) return outcome(HarvestOutcome::failed, fp, known.error());
  if (known.value()) return outcome(HarvestOutcome::known, fp);

  auto ring = openpgp_keyring(now_);
  if (!ring) return outcome(HarvestOutcome::failed, fp, ring.error());
  // Without a passphrase a protected secret key fails the import: such data is refused
  // (a message has no business carrying secret keys); unprotected secret parts are never
  // exported below (export_public).
  auto imported = ring->import_keys(key_data);
  if (!imported)
    return outcome(HarvestOutcome::refused, fp,
                   "carried key does not parse: " + imported.error().reason);
  const openpgp::KeyInfo* key = nullptr;
  for (const auto& k : imported.value())
    if (util::to_lower(k.fingerprint()) == fp) key = &k;
  if (!key) return outcome(HarvestOutcome::refused, fp, "carried key is not the signer's key");
  auto row = openpgp_row(*key);
  bool has_signing_key = false;
  for (const auto& k : row.key_fingerprints) has_signing_key |= util::to_lower(k) == signing;
  if (!has_signing_key)
    return outcome(HarvestOutcome::refused, fp, "carried key lacks the signing subkey");
  if (!key->primary.valid || key->primary.revoked || key->primary.expired)
    return outcome(HarvestOutcome::refused, fp, "carried key is revoked, expired or invalid");
  bool named = false;
  for (const auto& u : key->user_ids)
    named |= u.valid && !u.revoked && !u.email.empty() && openpgp::same_address(u.email, addr);
  if (!named) return outcome(HarvestOutcome::refused, fp, "no valid user ID carries " + addr);
  auto pub = ring->export_public(key->fingerprint(), false);
  if (!pub) return outcome(HarvestOutcome::failed, fp, pub.error().reason);
  row.public_key = std::move(pub).value();

  auto w = store_.begin_write();
  if (!w) return outcome(HarvestOutcome::failed, fp, w.error());
  if (auto st = w->add_openpgp_key(addr, row, nullptr); !st)
    return outcome(HarvestOutcome::failed, fp, st.error());
  if (auto st = w->commit(); !st) return outcome(HarvestOutcome::failed, fp, st.error());
  return outcome(HarvestOutcome::stored, fp);
}

}  // namespace mailseal::keys
