// DaneKeySource: OPENPGPKEY and SMIMEA lookups and their rules (see dane_key_source.h).
#include "keys/dane_key_source.h"

#include <openssl/x509_vfy.h>

#include <algorithm>

#include "dns/rdata.h"
#include "dns/resolver.h"
#include "keys/dane_names.h"
#include "keys/x509_util.h"

namespace mailseal::keys {
namespace {

using State = DiscoveryEntry::State;

// The common part of both lookups: failures, bogus and insecure answers become entries.
// Returns true when `o` is a secure answer with records (the caller fills the blobs).
bool judge(const dns::Outcome& o, const std::string& owner, const char* type, DiscoveryEntry& e,
           const DiscoveryLogger& log, const std::string& address) {
  e.origin = owner;
  e.steps.push_back(std::string(type) + " " + owner + ": " + dns::to_string(o.status) +
                    (o.secure  ? ", DNSSEC secure"
                     : o.bogus ? ", DNSSEC bogus"
                               : ", insecure"));
  if (o.bogus) {
    e.state = State::failed;
    e.detail = o.reason;
    if (log)
      log(DiscoveryLogLevel::error,
          "key source dane: " + address + ": " + o.reason + "; the records are not used");
    return false;
  }
  if (o.status == dns::Status::temporary) {
    e.state = State::failed;
    e.detail = o.reason;
    return false;
  }
  if (o.status != dns::Status::ok) {
    e.state = State::not_found;
    e.detail = o.reason;
    return false;
  }
  if (!o.secure) {
    e.state = State::not_found;
    e.detail = owner + ": " + type + " answer is not DNSSEC-signed (insecure): not used";
    if (log) log(DiscoveryLogLevel::info, "key source dane: " + address + ": " + e.detail);
    return false;
  }
  return true;
}

std::string tlsa_bytes(const core::TlsaRecord& r) {
  std::string b;
  b += static_cast<char>(r.usage);
  b += static_cast<char>(r.selector);
  b += static_cast<char>(r.matching);
  b.append(r.data.begin(), r.data.end());
  return b;
}

// The found entries of both lookups (judge() said the answer is usable).
DiscoveryEntry openpgp_found(dns::OpenpgpkeyResult r, DiscoveryEntry e) {
  e.state = State::found;
  e.blobs = std::move(r.keys);
  return e;
}

DiscoveryEntry smimea_found(const dns::SmimeaResult& r, DiscoveryEntry e) {
  e.state = State::found;
  for (const auto& rec : r.records) e.blobs.push_back(tlsa_bytes(rec));  // the raw records
  return e;
}

DiscoveryEntry no_domain() {
  DiscoveryEntry e;
  e.state = State::not_found;
  e.detail = "no domain to look up";
  return e;
}

}  // namespace

DaneKeySource::DaneKeySource(DaneKeyOptions options, dns::Resolver& resolver, DiscoveryCache& cache,
                             Anchors anchors, DiscoveryLogger log)
    : options_(options),
      resolver_(resolver),
      cache_(cache),
      anchors_(std::move(anchors)),
      log_(std::move(log)) {}

DiscoveryEntry DaneKeySource::fetch_openpgp(const std::string& address) {
  DiscoveryEntry e;
  auto owner = dane_owner_name(address, "_openpgpkey");
  if (!owner) return no_domain();
  auto r = resolver_.lookup_openpgpkey(*owner);
  if (!judge(r, *owner, "OPENPGPKEY", e, log_, address)) return e;
  return openpgp_found(std::move(r), std::move(e));
}

DiscoveryEntry DaneKeySource::fetch_smimea(const std::string& address) {
  DiscoveryEntry e;
  auto owner = dane_owner_name(address, "_smimecert");
  if (!owner) return no_domain();
  auto r = resolver_.lookup_smimea(*owner);
  if (!judge(r, *owner, "SMIMEA", e, log_, address)) return e;
  return smimea_found(r, std::move(e));
}

DiscoveryEntry DaneKeySource::fetch_both(const std::string& address, KeyKind wanted) {
  auto pgp_owner = dane_owner_name(address, "_openpgpkey");
  auto smime_owner = dane_owner_name(address, "_smimecert");
  if (!pgp_owner || !smime_owner) return no_domain();
  auto [pr, sr] = resolver_.lookup_dane_keys(*pgp_owner, *smime_owner);
  DiscoveryEntry pe, se;
  if (judge(pr, *pgp_owner, "OPENPGPKEY", pe, log_, address))
    pe = openpgp_found(std::move(pr), std::move(pe));
  if (judge(sr, *smime_owner, "SMIMEA", se, log_, address)) se = smimea_found(sr, std::move(se));
  if (wanted == KeyKind::openpgp) {
    cache_.put(discovery_key(name(), KeyKind::smime, address), std::move(se));
    return pe;
  }
  cache_.put(discovery_key(name(), KeyKind::openpgp, address), std::move(pe));
  return se;
}

std::string DaneKeySource::pkix_problem(X509* cert) {
  std::vector<crypto::X509Ptr> anchors = anchors_ ? anchors_() : std::vector<crypto::X509Ptr>{};
  if (anchors.empty()) return "usage 1 (PKIX-EE) needs a trust anchor, and the store has none";
  crypto::X509StorePtr store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (!store || !ctx) return "out of memory";
  for (auto& a : anchors) X509_STORE_add_cert(store.get(), a.get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) return "out of memory";
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             static_cast<time_t>(cache_.now()));
  if (X509_verify_cert(ctx.get()) == 1) return "";
  int err = X509_STORE_CTX_get_error(ctx.get());
  openssl_error();  // drain
  return std::string("usage 1 (PKIX-EE): no valid chain to a trust anchor: ") +
         X509_verify_cert_error_string(err);
}

std::vector<LdapCandidate> DaneKeySource::smimea_candidates(const DiscoveryEntry& e,
                                                            const std::string& address) {
  std::vector<LdapCandidate> out;
  for (const auto& blob : e.blobs) {
    auto rec = dns::decode_tlsa(blob);
    if (!rec) continue;
    const std::string label = "SMIMEA " + std::to_string(rec->usage) + " " +
                              std::to_string(rec->selector) + " " + std::to_string(rec->matching);
    std::string why;
    if (rec->selector != 0 || rec->matching != 0)
      why = "not a full certificate (only selector 0, matching type 0 can be encrypted to)";
    else if (rec->usage != 1 && rec->usage != 3)
      why = "usage " + std::to_string(rec->usage) +
            " is a CA constraint: the record holds no certificate of the recipient";
    if (!why.empty()) {
      LdapCandidate c;
      c.dn = e.origin;
      c.attribute = label;
      c.record.address = address;
      c.record.source = name();
      c.record.fingerprint = sha256_hex(blob);
      c.rejected = why;
      out.push_back(std::move(c));
      continue;
    }
    std::string der(rec->data.begin(), rec->data.end());
    for (auto& c : discovered_candidates({der}, e.origin, label, KeyKind::smime, address, name(),
                                         cache_.now())) {
      if (c.rejected.empty() && rec->usage == 1 && c.record.cert)
        c.rejected = pkix_problem(c.record.cert.get());
      out.push_back(std::move(c));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const LdapCandidate& a, const LdapCandidate& b) {
    if (a.rejected.empty() != b.rejected.empty()) return a.rejected.empty();
    return a.not_before > b.not_before;
  });
  return out;
}

DiscoveryInspection DaneKeySource::inspect(std::string_view address, KeyKind kind) {
  const bool wanted = kind == KeyKind::openpgp ? options_.openpgpkey : options_.smimea;
  if (!wanted)
    return not_asked(kind == KeyKind::openpgp ? "OPENPGPKEY lookups are not enabled"
                                              : "SMIMEA lookups are not enabled");
  const std::string addr = normalise_address(address);
  if (in_own_domain(addr, options_.own_domains)) return not_asked(kOwnDomainNotAsked);
  DiscoveryInspection seen;
  seen.entry = cache_.lookup(
      discovery_key(name(), kind, addr),
      [&] {
        if (options_.openpgpkey && options_.smimea) return fetch_both(addr, kind);
        return kind == KeyKind::openpgp ? fetch_openpgp(addr) : fetch_smimea(addr);
      },
      seen.cached);
  if (!seen.cached && seen.entry.state == State::failed && log_)
    log_(DiscoveryLogLevel::warn, "key source dane: " + addr + ": " + seen.entry.detail +
                                      "; mail to it without another key is deferred (451)");
  if (seen.entry.state != State::found) return seen;
  if (kind == KeyKind::openpgp)
    seen.candidates = discovered_candidates(seen.entry.blobs, seen.entry.origin, "OPENPGPKEY", kind,
                                            addr, name(), cache_.now());
  else
    seen.candidates = smimea_candidates(seen.entry, addr);
  return seen;
}

std::vector<PublicKeyRecord> DaneKeySource::find_public(std::string_view address, KeyKind kind,
                                                        std::optional<SourceError>& error) {
  const bool wanted = kind == KeyKind::openpgp ? options_.openpgpkey : options_.smimea;
  if (!wanted) return {};
  return usable_records(inspect(address, kind), name(), error);
}

}  // namespace mailseal::keys
