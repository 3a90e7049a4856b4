// make_filters: [seal]/[open] configuration -> gateway filter options.
#include "app/filters.h"
#include "app/store_location.h"

#include "gateway/format_router.h"
#include "gateway/openpgp_open_filter.h"
#include "gateway/openpgp_seal_filter.h"
#include "gateway/smime_open_filter.h"
#include "gateway/smime_seal_filter.h"
#include "keys/pkcs11_key_source.h"
#include "keys/revocation_source.h"

#include <spdlog/spdlog.h>

namespace mailseal::app {

namespace {

gateway::VerdictAction action(const std::string& v) {
  return v == "reject" ? gateway::VerdictAction::reject : gateway::VerdictAction::tag;
}

gateway::SealOptions seal_options(const core::Config& c) {
  gateway::SealOptions o;
  o.cipher = c.seal.cipher == "aes-256-gcm" ? crypto::smime::Cipher::aes256_gcm
                                            : crypto::smime::Cipher::aes256_cbc;
  o.rsa_oaep = c.seal.rsa_padding == "oaep";
  o.opaque_signing = c.seal.signing == "opaque";
  o.no_certificate = c.seal.no_certificate == "sign-only" ? gateway::RecipientFallback::sign_only
                     : c.seal.no_certificate == "plain"   ? gateway::RecipientFallback::plain
                                                          : gateway::RecipientFallback::refuse;
  o.no_secret_key = c.seal.no_secret_key == "encrypt-only" ? gateway::SenderFallback::encrypt_only
                                                           : gateway::SenderFallback::refuse;
  o.allow_from_mismatch = c.seal.allow_from_mismatch;
  o.spill_dir = c.state_dir / "tmp";
  return o;
}

gateway::OpenOptions open_options(const core::Config& c) {
  gateway::OpenOptions o;
  o.from_mismatch = action(c.open.from_mismatch);
  o.untrusted = action(c.open.untrusted);
  o.expired = action(c.open.expired);
  o.revoked = action(c.open.revoked);
  o.undecryptable = action(c.open.undecryptable);
  o.max_layers = static_cast<int>(c.open.max_layers);
  o.require_signature_from = c.open.require_signature_from;
  o.spill_dir = c.state_dir / "tmp";
  return o;
}

std::unique_ptr<keys::KeySource> make_pkcs11_source(const core::Pkcs11Config& c) {
  auto notify = [token = c.token](bool usable, const std::string& detail) {
    if (usable)
      spdlog::info("key source pkcs11: {}", detail);
    else
      spdlog::warn("key source pkcs11 (token \"{}\") unavailable: {}", token, detail);
  };
  auto source = std::make_unique<keys::Pkcs11KeySource>(
      keys::Pkcs11Settings{c.module, c.token, c.pin_file}, nullptr, notify);
  (void)source->probe();  // logged through notify either way
  return source;
}

// [revocation] -> the checker. Fetched CRLs are written to the store, so `keys list`-style
// tools, the chain check on the open side and a restarted daemon all see them.
std::shared_ptr<keys::RevocationChecker> make_revocation(const core::RevocationConfig& c,
                                                         keys::KeyStore& store) {
  keys::RevocationSettings s;
  s.ocsp = c.ocsp == "off"         ? keys::OcspMode::off
           : c.ocsp == "hard-fail" ? keys::OcspMode::hard_fail
                                   : keys::OcspMode::soft_fail;
  s.ocsp_timeout = c.ocsp_timeout;
  s.ocsp_url = c.ocsp_url;
  s.fetch_crls = c.crl_fetch;
  s.crl_timeout = c.crl_timeout;
  auto store_crl = [&store](X509_CRL* crl) {
    auto w = store.begin_write();
    keys::Status st = w ? w->add_crl(crl) : keys::Status(w.take_error());
    if (st) st = w->supersede_crls(crl);
    if (st) st = w->commit();
    if (!st)
      spdlog::warn("revocation: fetched CRL kept in memory only, the store refused it: {}",
                   st.error());
    else
      spdlog::info("revocation: fetched CRL stored");
  };
  auto warn = [](const std::string& m) { spdlog::warn("revocation: {}", m); };
  return std::make_shared<keys::RevocationChecker>(s, store_crl, warn);
}

// [open] harvest: signers' keys into the store. Every result but "already there" is a
// log line; a failed write never touches the mail.
std::shared_ptr<keys::Harvester> make_harvester(keys::KeyStore& store) {
  auto log = [](std::string_view address, keys::KeyKind kind, const keys::HarvestResult& r) {
    const char* k = keys::kind_name(kind);
    if (r.outcome == keys::HarvestOutcome::stored)
      spdlog::info("harvest: {} key {} stored for {}", k, r.fingerprint, address);
    else if (r.outcome == keys::HarvestOutcome::failed)
      spdlog::warn("harvest: {} key {} for {} not stored, key store: {}", k, r.fingerprint, address,
                   r.detail);
    else
      spdlog::info("harvest: {} key {} for {} not stored: {}", k, r.fingerprint, address, r.detail);
  };
  return std::make_shared<keys::Harvester>(store, log);
}

}  // namespace

bool make_filters(const core::Config& config, GatewayFilters& out, std::string& error) {
  if (!config.seal.enabled && !config.open.enabled) return true;
  auto paths = state_paths(config);
  // A master key file wrapped by the token's key is unwrapped through the token, once.
  if (config.keys.pkcs11.enabled())
    out.kek = std::make_unique<keys::TokenKek>(keys::Pkcs11Settings{
        config.keys.pkcs11.module, config.keys.pkcs11.token, config.keys.pkcs11.pin_file});
  auto admin = keys::KeyAdmin::open(paths, {}, out.kek.get());
  if (!admin) {
    error = "key store " + paths.store.describe() + ": " + admin.error() +
            " (run `mailseal keys --config FILE init` first)";
    return false;
  }
  out.key_store = std::make_unique<keys::KeyAdmin>(std::move(admin).value());
  out.key_store->store().set_outage_log([](bool down, const std::string& text) {
    if (down)
      spdlog::warn("{}", text);
    else
      spdlog::info("{}", text);
  });
  // [keys] sources in the order they are asked (keys.db, a directory server).
  if (!make_key_sources(config, out.key_store->store(), out.sources, error)) return false;
  std::vector<keys::KeySource*> sources = out.sources.ordered;
  if (config.keys.pkcs11.enabled()) {
    // Token keys are asked for before the store's. The daemon starts even when the token
    // is unusable (mail needing its keys gets 451 until it is back); the log says why.
    out.pkcs11 = make_pkcs11_source(config.keys.pkcs11);
    sources.insert(sources.begin(), out.pkcs11.get());
  }
  out.revocation = make_revocation(config.revocation, out.key_store->store());
  if (config.seal.enabled) {
    // One seal filter per configured format; several: a router picks per recipient.
    std::vector<gateway::SealFormat> formats;
    std::vector<std::unique_ptr<core::MessageFilter>> filters;
    auto options = seal_options(config);
    // Recipient certificates: revoked ones are hidden from the seal side (never used).
    std::vector<keys::KeySource*> seal_sources = sources;
    for (auto& s : seal_sources) {
      out.checked_sources.push_back(
          std::make_unique<keys::RevocationFilteredSource>(s, sources, out.revocation.get()));
      s = out.checked_sources.back().get();
    }
    for (const auto& f : config.seal.formats) {
      if (f == "openpgp") {
        formats.push_back(gateway::SealFormat::openpgp);
        filters.push_back(std::make_unique<gateway::OpenpgpSealFilter>(seal_sources, options));
      } else {
        formats.push_back(gateway::SealFormat::smime);
        filters.push_back(std::make_unique<gateway::SmimeSealFilter>(seal_sources, options));
      }
    }
    if (filters.size() == 1)
      out.seal = std::move(filters.front());
    else
      out.seal = std::make_unique<gateway::FormatRouter>(
          seal_sources, std::move(formats), std::move(filters), options.no_certificate);
  }
  if (config.open.enabled) {
    // Inbound handles both formats whatever [seal] formats says: what arrives is the
    // sender's choice. Dispatch by content type; unsigned mail goes the S/MIME way once.
    auto options = open_options(config);
    options.revocation = out.revocation;
    if (config.open.harvest) {
      options.harvester = make_harvester(out.key_store->store());
      options.harvester->set_own_domains(config.outside.internal_domains);
    }
    out.open = std::make_unique<gateway::OpenDispatcher>(
        std::make_unique<gateway::SmimeOpenFilter>(sources, options),
        std::make_unique<gateway::OpenpgpOpenFilter>(sources, options));
  }
  return true;
}

}  // namespace mailseal::app
