// KeyAdmin's OpenPGP operations (issue 4): generate, import (armored or binary, public or
// secret, with passphrase), export, and the user IDs shown by `list`. RNP does the
// OpenPGP work through src/openpgp; the store keeps binary transferable keys, the secret
// ones sealed under the master key exactly like S/MIME keys.

#include <algorithm>
#include <cstring>
#include <map>

#include "keys/address.h"
#include "keys/key_admin.h"
#include "keys/openpgp_row.h"
#include "openpgp/generate.h"
#include "openpgp/keyring.h"
#include "openpgp/user_id.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

std::string algorithm_name(const openpgp::SubkeyInfo& k) {
  std::string alg = util::to_lower(k.algorithm);
  if (k.curve == "Ed25519") return "ed25519";
  if (k.curve == "Curve25519") return "cv25519";
  if (k.curve == "NIST P-256") return alg + "-p256";
  if (k.curve == "NIST P-384") return alg + "-p384";
  if (k.curve == "NIST P-521") return alg + "-p521";
  if (!k.curve.empty()) return alg + "-" + util::to_lower(k.curve);
  if (alg.rfind("rsa", 0) == 0) return "rsa" + std::to_string(k.bits);
  return alg;
}

std::int64_t unix_of(openpgp::Seconds t) {
  return t.time_since_epoch().count();
}

Result<openpgp::Keyring> new_keyring(const Clock& now) {
  return openpgp_keyring(now);
}

OpenpgpRow row_of(const openpgp::KeyInfo& info) {
  return openpgp_row(info);
}

SecretBytes secret_bytes(const openpgp::SecretString& s) {
  return SecretBytes(s.view().data(), s.view().size());
}

CertificateInfo info_of(const std::string& address, const OpenpgpRow& row, bool secret,
                        const openpgp::KeyInfo& key) {
  CertificateInfo c;
  c.address = address;
  c.kind = KeyKind::openpgp;
  c.algorithm = row.algorithm;
  c.fingerprint = util::to_lower(row.fingerprint);
  c.not_before = row.not_before;
  c.not_after = row.not_after;
  c.has_secret = secret;
  for (const auto& u : key.user_ids)
    if (u.valid && !u.revoked) c.user_ids.push_back(u.text);
  return c;
}

}  // namespace

Result<openpgp::Keyring> openpgp_keyring(const Clock& now) {
  auto k = openpgp::Keyring::create();
  if (!k) return fail("OpenPGP: " + k.error().reason);
  // Validity (expiry, revocation) as of the store's clock, like the S/MIME lookups.
  k->set_time(openpgp::Seconds(std::chrono::seconds(now())));
  return std::move(k).value();
}

OpenpgpRow openpgp_row(const openpgp::KeyInfo& info) {
  OpenpgpRow row;
  row.fingerprint = info.fingerprint();
  row.key_fingerprints.push_back(info.fingerprint());
  row.algorithm = algorithm_name(info.primary);
  for (const auto& s : info.subkeys) {
    row.key_fingerprints.push_back(s.fingerprint);
    row.algorithm += "+" + algorithm_name(s);
  }
  row.not_before = unix_of(info.primary.created);
  row.not_after = info.primary.expires ? unix_of(*info.primary.expires) : kNoExpiry;
  // Revoked (or without any valid self-signature): never returned by date-filtered lookups.
  if (info.primary.revoked || !info.primary.valid) row.not_after = row.not_before;
  return row;
}

std::optional<OpenpgpAlgorithm> parse_openpgp_algorithm(std::string_view text) {
  std::string t = util::to_lower(text);
  if (t.empty() || t == "ed25519" || t == "ed25519+cv25519" || t == "cv25519" ||
      t == "curve25519" || t == "25519")
    return OpenpgpAlgorithm::ed25519;
  if (t == "rsa3072" || t == "rsa") return OpenpgpAlgorithm::rsa3072;
  return std::nullopt;
}

bool is_openpgp_data(std::string_view data) {
  if (data.find("-----BEGIN PGP PUBLIC KEY BLOCK-----") != std::string_view::npos ||
      data.find("-----BEGIN PGP PRIVATE KEY BLOCK-----") != std::string_view::npos)
    return true;
  if (data.empty()) return false;
  auto b = static_cast<unsigned char>(data.front());
  if (!(b & 0x80)) return false;                          // DER, PEM and text start below 0x80
  int tag = (b & 0x40) ? (b & 0x3f) : ((b >> 2) & 0x0f);  // new / old packet format
  return tag == 5 || tag == 6;                            // secret key / public key packet
}

std::vector<std::string> KeyAdmin::openpgp_user_ids(const std::string& fingerprint) {
  std::vector<std::string> out;
  auto data = store_->openpgp_public(fingerprint);
  auto ring = new_keyring(now_);
  if (!data || data->empty() || !ring) return out;
  auto imported = ring->import_keys(data.value());
  if (!imported || imported->empty()) return out;
  for (const auto& u : imported->front().user_ids)
    if (u.valid && !u.revoked) out.push_back(u.text);
  return out;
}

Result<CertificateInfo> KeyAdmin::generate_openpgp(std::string_view address,
                                                   const OpenpgpGenerateOptions& options) {
  if (!is_valid_address(address)) return fail("not an e-mail address: " + std::string(address));
  if (options.days < 0) return fail("--days must be positive");
  auto addr = normalise_address(address);
  auto ring = new_keyring(now_);
  if (!ring) return ring.take_error();
  openpgp::GenerateOptions g;
  g.algorithm = options.algorithm == OpenpgpAlgorithm::rsa3072
                    ? openpgp::KeyAlgorithm::rsa3072
                    : openpgp::KeyAlgorithm::ed25519_cv25519;
  g.name = options.name;
  if (options.days > 0) g.lifetime = std::chrono::seconds(std::int64_t{options.days} * 86400);
  auto key = openpgp::generate_key(ring.value(), addr, g);
  if (!key) return fail("OpenPGP key generation: " + key.error().reason);
  auto pub = ring->export_public(key->fingerprint(), false);
  auto sec = ring->export_secret(key->fingerprint(), false);
  if (!pub || !sec) return fail("OpenPGP key export failed");
  OpenpgpRow row = row_of(key.value());
  row.public_key = std::move(pub).value();
  SecretBytes secret = secret_bytes(sec.value());
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  if (auto st = w->add_openpgp_key(addr, row, &secret); !st) return st.take_error();
  if (auto st = w->commit(); !st) return st.take_error();
  return info_of(addr, row, true, key.value());
}

Result<std::vector<std::string>> KeyAdmin::import_openpgp(std::string_view data,
                                                          const ImportOptions& options,
                                                          const SecretBytes* passphrase) {
  if (options.key_file) return fail("--key is for PEM private keys, not OpenPGP keys");
  auto ring = new_keyring(now_);
  if (!ring) return ring.take_error();
  auto imported = ring->import_keys(data, passphrase ? passphrase->view() : std::string_view{});
  if (!imported) {
    if (imported.error().kind == openpgp::ErrorKind::wrong_passphrase && !passphrase)
      return fail(imported.error().reason + " (use --passphrase-file or MAILSEAL_PASSPHRASE)");
    return fail("OpenPGP import: " + imported.error().reason);
  }
  if (imported->empty()) return fail("the file holds no OpenPGP key");
  std::vector<std::string> lines;
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  for (const auto& first : imported.value()) {
    const std::string fp = first.fingerprint();
    // Merge with what is stored, so an update (new user ID, revocation) keeps the rest.
    auto stored = store_->openpgp_public(fp);
    if (!stored) return stored.take_error();
    if (!stored->empty()) {
      auto merged = ring->import_keys(stored.value());
      if (!merged) return fail("stored OpenPGP key " + fp + ": " + merged.error().reason);
    }
    auto info = ring->info(fp);
    if (!info) return fail("OpenPGP key " + fp + ": " + info.error().reason);
    auto emails = info->emails();
    if (emails.empty())
      return fail("OpenPGP key " + fp + " has no valid user ID with an e-mail address");
    std::vector<std::string> addrs;
    for (const auto& e : emails) {
      auto n = normalise_address(e);
      if (!is_valid_address(n)) continue;
      if (options.address && !openpgp::same_address(n, *options.address)) continue;
      if (std::find(addrs.begin(), addrs.end(), n) == addrs.end()) addrs.push_back(n);
    }
    if (addrs.empty()) {
      std::string all;
      for (const auto& e : emails) all += (all.empty() ? "" : ", ") + e;
      return fail("OpenPGP key " + fp + " (" + all + ") does not carry " +
                  (options.address ? normalise_address(*options.address) : "a usable address"));
    }
    auto pub = ring->export_public(fp, false);
    if (!pub) return fail("OpenPGP key " + fp + ": " + pub.error().reason);
    OpenpgpRow row = row_of(info.value());
    row.public_key = std::move(pub).value();
    std::optional<SecretBytes> secret;
    if (first.has_secret()) {
      auto sec = ring->export_secret(fp, false);
      if (!sec) return fail("OpenPGP secret key " + fp + ": " + sec.error().reason);
      secret = secret_bytes(sec.value());
    }
    for (const auto& a : addrs) {
      if (auto st = w->add_openpgp_key(a, row, secret ? &*secret : nullptr); !st)
        return st.take_error();
      std::string state = info->primary.revoked   ? " (revoked)"
                          : info->primary.expired ? " (expired)"
                                                  : "";
      lines.push_back(std::string(secret ? "OpenPGP key and secret key" : "OpenPGP key") + " for " +
                      a + " " + fp + state);
    }
  }
  if (auto st = w->commit(); !st) return st.take_error();
  return lines;
}

Result<std::string> KeyAdmin::export_openpgp(std::string_view which) {
  std::string data;
  if (is_fingerprint(which)) {
    auto stored = store_->openpgp_public(which);
    if (!stored) return stored.take_error();
    data = std::move(stored).value();
    if (data.empty()) return fail("no OpenPGP key with fingerprint " + std::string(which));
  } else {
    std::optional<SourceError> err;
    auto found = store_->find_public(which, KeyKind::openpgp, err);
    if (err) return fail(err->reason);
    if (found.empty()) return fail("no valid OpenPGP key for " + normalise_address(which));
    data = std::move(found.front().openpgp);
  }
  auto ring = new_keyring(now_);
  if (!ring) return ring.take_error();
  auto imported = ring->import_keys(data);
  if (!imported || imported->empty()) return fail("the stored OpenPGP key does not parse");
  auto armored = ring->export_public(imported->front().fingerprint(), true);
  if (!armored) return fail("OpenPGP export: " + armored.error().reason);
  return std::move(armored).value();
}

Result<std::string> KeyAdmin::export_openpgp_secret(std::string_view which,
                                                    const SecretBytes& passphrase) {
  if (passphrase.empty()) return fail("exporting a secret key needs a non-empty passphrase");
  std::string address(which), fp;
  if (is_fingerprint(which)) {
    fp = util::to_lower(which);
    auto all = store_->list();
    if (!all) return all.take_error();
    address.clear();
    for (const auto& r : all.value())
      if (r.kind == KeyKind::openpgp && r.fingerprint == fp && r.has_secret) address = r.address;
    if (address.empty()) return fail("no OpenPGP secret key with fingerprint " + fp);
  }
  std::optional<SourceError> err;
  auto found = store_->find_secret(address, KeyKind::openpgp, err);
  if (err) return fail(err->reason);
  const SecretKeyRecord* rec = nullptr;
  for (const auto& r : found)
    if (fp.empty() || r.fingerprint == fp) {
      rec = &r;
      break;
    }
  if (!rec) return fail("no valid OpenPGP secret key for " + std::string(which));
  auto ring = new_keyring(now_);
  if (!ring) return ring.take_error();
  auto imported = ring->import_keys(rec->openpgp);
  if (!imported || imported->empty()) return fail("the stored OpenPGP secret key does not parse");
  auto armored = ring->export_secret(imported->front().fingerprint(), true, passphrase.view());
  if (!armored) return fail("OpenPGP export: " + armored.error().reason);
  return std::string(armored->view());
}

}  // namespace mailseal::keys
