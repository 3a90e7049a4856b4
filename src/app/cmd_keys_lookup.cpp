// `mailseal keys lookup ADDRESS` (see cmd_keys_lookup.h). It asks the sources exactly as
// the gateway does (app/key_sources.cpp builds them for both) and then applies the
// gateway's choice rules, restated here for the reader:
//   S/MIME   gateway/key_lookup.cpp: sources in order, the first one with a certificate
//            wins; a failing source stops the search (451 4.7.0, the client retries),
//            except a discovery source (wkd, dane): its failure counts only when no
//            source has a certificate (the same for OpenPGP and the format choice).
//   OpenPGP  gateway/openpgp_keys.cpp: every source's keys go into one keyring and the
//            newest valid key with the address and an encryption subkey wins.
//   format   gateway/format_router.cpp: the first of [seal] formats with a usable key.
// If those rules change, this report must follow.
#include "app/cmd_keys_lookup.h"

#include <ctime>
#include <optional>
#include <variant>

#include "app/key_sources.h"
#include "core/config.h"
#include "keys/x509_util.h"
#include "openpgp/keyring.h"
#include "util/strings.h"
#include "util/utc_time.h"

namespace mailseal::app {
namespace {

std::string day(std::int64_t t) {
  return util::utc_date(t);
}

std::string period(std::int64_t from, std::int64_t to) {
  return day(from) + " .. " + (to >= keys::kLdapNoExpiry ? std::string("never") : day(to));
}

// One line per key: fingerprint, what it is (subject or user IDs), validity, origin.
struct Shown {
  std::string fingerprint, description, validity, origin, rejected;
};

Shown describe_record(const keys::PublicKeyRecord& r) {
  Shown s{r.fingerprint, "", "", "", ""};
  if (r.kind == keys::KeyKind::smime && r.cert) {
    s.description = keys::subject_line(r.cert.get());
    std::int64_t nb = 0, na = 0;
    if (keys::to_unix(X509_get0_notBefore(r.cert.get()), nb) &&
        keys::to_unix(X509_get0_notAfter(r.cert.get()), na))
      s.validity = period(nb, na);
  } else if (auto ring = openpgp::Keyring::create()) {
    if (auto keys = ring->import_keys(r.openpgp); keys && !keys->empty()) {
      const auto& k = keys->front();
      for (const auto& u : k.user_ids)
        if (u.valid && !u.revoked) s.description += (s.description.empty() ? "" : ", ") + u.text;
      auto created = k.primary.created.time_since_epoch().count();
      s.validity = period(created, k.primary.expires ? k.primary.expires->time_since_epoch().count()
                                                     : keys::kLdapNoExpiry);
    }
  }
  return s;
}

void print_shown(std::ostream& out, const Shown& s) {
  out << "    " << (s.rejected.empty() ? "usable  " : "skipped ") << s.fingerprint << "\n";
  if (!s.description.empty()) out << "      " << s.description << "\n";
  if (!s.validity.empty()) out << "      valid " << s.validity << "\n";
  if (!s.origin.empty()) out << "      from " << s.origin << "\n";
  if (!s.rejected.empty()) out << "      not used: " << s.rejected << "\n";
}

// What one source answered for one kind: its usable records, or its error.
struct Answer {
  std::vector<keys::PublicKeyRecord> records;
  std::optional<keys::SourceError> error;
};

// A discovery source (WKD, DANE): what it asked and was answered (or the cache), then
// its keys, usable or not and why.
Answer ask_discovery(keys::DiscoveryInspection seen, const char* label, std::ostream& out) {
  Answer a;
  const auto& e = seen.entry;
  out << label << to_string(e.state);
  if (seen.cached && e.fetched > 0)
    out << " (cached, fetched " << util::utc_timestamp(e.fetched) << ", until "
        << util::utc_timestamp(e.expires) << ")";
  out << "\n";
  for (const auto& step : e.steps) out << "    asked " << step << "\n";
  if (e.state == keys::DiscoveryEntry::State::failed) {
    out << "    error: " << e.detail << "\n";
    a.error = keys::SourceError{"", e.detail, true};
    return a;
  }
  if (e.state == keys::DiscoveryEntry::State::not_found) {
    if (!e.detail.empty()) out << "    " << e.detail << "\n";
    return a;
  }
  for (auto& c : seen.candidates) {
    Shown s = describe_record(c.record);
    if (s.validity.empty() && c.not_after > 0) s.validity = period(c.not_before, c.not_after);
    if (s.description.empty()) s.description = c.description;
    s.origin = c.dn + " (" + c.attribute + ")";
    s.rejected = c.rejected;
    print_shown(out, s);
    if (c.rejected.empty()) a.records.push_back(std::move(c.record));
  }
  if (seen.candidates.empty()) out << "    the answer held no key\n";
  return a;
}

Answer ask(keys::KeySource& source, const KeySources& all, const std::string& address,
           keys::KeyKind kind, std::ostream& out) {
  Answer a;
  keys::LdapKeySource* ldap = all.ldap.get();
  const char* label = kind == keys::KeyKind::smime ? "  S/MIME: " : "  OpenPGP: ";
  if (all.wkd && &source == all.wkd.get()) {
    if (kind != keys::KeyKind::openpgp) {
      out << label << "none (WKD holds OpenPGP keys only)\n";
      return a;
    }
    a = ask_discovery(all.wkd->inspect(address, kind), label, out);
    if (a.error) a.error->source = "wkd";
    return a;
  }
  if (all.dane && &source == all.dane.get()) {
    a = ask_discovery(all.dane->inspect(address, kind), label, out);
    if (a.error) a.error->source = "dane";
    return a;
  }
  if (&source == ldap) {
    auto seen = ldap->inspect(address, kind, a.error);
    if (a.error) {
      out << label << "error: " << a.error->reason << "\n";
      return a;
    }
    out << label << "filter " << seen.filter << " matched " << seen.entries << " entr"
        << (seen.entries == 1 ? "y" : "ies") << "\n";
    for (auto& c : seen.candidates) {
      Shown s = describe_record(c.record);
      if (s.validity.empty() && c.not_after > 0) s.validity = period(c.not_before, c.not_after);
      if (s.description.empty()) s.description = c.description;
      s.origin = c.dn + " (" + c.attribute + ")";
      s.rejected = c.rejected;
      print_shown(out, s);
      if (c.rejected.empty()) a.records.push_back(std::move(c.record));
    }
    return a;
  }
  a.records = source.find_public(address, kind, a.error);
  if (a.error) {
    out << label << "error: " << a.error->reason << "\n";
    return a;
  }
  out << label << (a.records.empty() ? "none" : std::to_string(a.records.size()) + " usable")
      << "\n";
  for (const auto& r : a.records) print_shown(out, describe_record(r));
  return a;
}

// The name [keys] sources uses for a source (the store calls itself by its backend).
std::string config_name(const keys::KeySource& s) {
  return s.name() == "sqlite" || s.name() == "postgresql" ? "store" : s.name();
}

std::string source_label(keys::KeySource& s, const KeySources& all) {
  keys::LdapKeySource* ldap = all.ldap.get();
  if (&s == ldap) return "ldap (" + ldap->url() + ", base " + ldap->base_dn() + ")";
  if (all.wkd && &s == all.wkd.get())
    return "wkd (Web Key Directory, HTTPS port " + std::to_string(all.wkd->port()) + ")";
  if (all.dane && &s == all.dane.get()) {
    const auto& o = all.dane->options();
    return std::string("dane (DNSSEC:") + (o.openpgpkey ? " OPENPGPKEY" : "") +
           (o.smimea ? " SMIMEA" : "") + ")";
  }
  if (config_name(s) != "store") return config_name(s);
  return s.name() == "sqlite" ? "store (keys.db)" : "store (" + s.name() + ")";
}

}  // namespace

keys::Status run_keys_lookup(const std::string& config_file, const std::string& address,
                             keys::KeyAdmin& admin, std::ostream& out) {
  core::Config config;
  if (!config_file.empty()) {
    auto loaded = core::load_config(config_file);
    if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&loaded))
      return keys::fail(errors->front().to_string());
    config = std::get<core::Config>(std::move(loaded));
  }
  KeySources sources;
  std::string error;
  // quiet: the report shows each failure; the daemon's log is not the terminal.
  if (!make_key_sources(config, admin.store(), sources, error, false)) return keys::fail(error);

  const std::string addr = keys::normalise_address(address);
  out << "address " << addr << "\nsources, in the order asked:";
  for (auto* s : sources.ordered) out << " " << config_name(*s);
  out << "\n";

  std::vector<std::pair<keys::KeySource*, Answer>> smime, pgp;
  for (auto* s : sources.ordered) {
    out << "\n" << source_label(*s, sources) << "\n";
    smime.emplace_back(s, ask(*s, sources, addr, keys::KeyKind::smime, out));
    pgp.emplace_back(s, ask(*s, sources, addr, keys::KeyKind::openpgp, out));
  }

  out << "\nwould use\n";
  // S/MIME: first source with a certificate; an error on the way stops the search.
  // A discovery source's failure (wkd, dane) counts only when no source has a key.
  auto failed = [](const keys::SourceError& e) {
    return "source " + e.source + " failed (" + e.reason + ")";
  };
  std::optional<std::string> smime_error, smime_deferred;
  std::optional<std::string> smime_choice;
  for (auto& [s, a] : smime) {
    if (a.error && !a.error->discovery) {
      smime_error = failed(*a.error);
      break;
    }
    if (a.error) {
      if (!smime_deferred) smime_deferred = failed(*a.error);
      continue;
    }
    if (!a.records.empty()) {
      smime_choice = a.records.front().fingerprint + " from " + config_name(*s);
      break;
    }
  }
  // Only a discovery failure left: it decides (451), unless another format has a key.
  const bool smime_only_deferred = !smime_error && !smime_choice && smime_deferred;
  if (smime_only_deferred) smime_error = smime_deferred;
  out << "  S/MIME: ";
  if (smime_error)
    out << "none: " << *smime_error << "; the gateway answers 451 4.7.0 and the client retries\n";
  else if (smime_choice)
    out << *smime_choice << " (the first source in order with a valid certificate naming "
        << "the address; the newest of that source)\n";
  else
    out << "none (no source has a valid certificate naming the address)\n";

  // OpenPGP: all sources into one keyring, newest usable key wins.
  std::optional<std::string> pgp_error, pgp_deferred;
  std::optional<std::string> pgp_choice;
  auto ring = openpgp::Keyring::create();
  if (!ring) return keys::fail("OpenPGP: " + ring.error().reason);
  for (auto& [s, a] : pgp) {
    if (a.error && !a.error->discovery) {
      pgp_error = failed(*a.error);
      break;
    }
    if (a.error && !pgp_deferred) pgp_deferred = failed(*a.error);
    for (const auto& r : a.records) (void)ring->import_keys(r.openpgp);
  }
  if (!pgp_error) {
    if (auto choice = ring->key_for_address(addr, openpgp::Usage::encrypt)) {
      std::string fpr = util::to_lower(choice->primary_fingerprint);
      std::string from;
      for (auto& [s, a] : pgp)
        for (const auto& r : a.records)
          if (r.fingerprint == fpr && from.find(config_name(*s)) == std::string::npos)
            from += (from.empty() ? "" : ", ") + config_name(*s);
      pgp_choice =
          fpr + " from " + from + ", encryption subkey " + util::to_lower(choice->key_fingerprint);
    }
  }
  const bool pgp_only_deferred = !pgp_error && !pgp_choice && pgp_deferred;
  if (pgp_only_deferred) pgp_error = pgp_deferred;
  out << "  OpenPGP: ";
  if (pgp_error)
    out << "none: " << *pgp_error << "; the gateway answers 451 4.7.0 and the client retries\n";
  else if (pgp_choice)
    out << *pgp_choice << " (the newest valid key of all sources with a user ID carrying "
        << "the address and a valid encryption key)\n";
  else
    out << "none (no source has a valid key for the address with an encryption key)\n";

  // Format: the first of [seal] formats with a key; a source error there defers the mail.
  std::string formats;
  for (const auto& f : config.seal.formats) formats += (formats.empty() ? "" : ", ") + f;
  out << "  seal: ";
  bool decided = false;
  std::optional<std::string> format_deferred;  // a discovery failure: decides only at the end
  for (const auto& f : config.seal.formats) {
    bool smime_f = f == "smime";
    const auto& err = smime_f ? smime_error : pgp_error;
    const auto& choice = smime_f ? smime_choice : pgp_choice;
    const bool only_deferred = smime_f ? smime_only_deferred : pgp_only_deferred;
    if (err && !only_deferred) {
      out << "deferred: 451 4.7.0 (" << *err << ")\n";
      decided = true;
      break;
    }
    if (choice) {
      out << (smime_f ? "S/MIME" : "OpenPGP") << " (the first of [seal] formats = " << formats
          << " with a usable key)\n";
      decided = true;
      break;
    }
    if (err && !format_deferred) format_deferred = err;
  }
  if (!decided && format_deferred) {
    out << "deferred: 451 4.7.0 (" << *format_deferred
        << "; no source has a key, and a failed discovery source might have one)\n";
    decided = true;
  }
  if (!decided)
    out << "no key in any format: [seal] no_certificate = " << config.seal.no_certificate
        << (config.seal.no_certificate == "refuse" ? " (RCPT gets 550 5.7.1)" : "") << "\n";
  return keys::ok_status();
}

}  // namespace mailseal::app
