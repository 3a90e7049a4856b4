// KeyAdmin operations that bring keys in: internal CA, generate, import. Each one
// validates everything first and writes in a single transaction.

#include "keys/address.h"
#include "keys/importer.h"
#include "keys/key_admin.h"
#include "keys/x509_util.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

bool is_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  for (char c : d) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return d.find("..") == std::string_view::npos;
}

std::string domain_of(std::string_view normalised) {
  return std::string(normalised.substr(normalised.rfind('@') + 1));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The addresses a certificate is filed under: the requested one (which it must name), or
// every address it names.
Result<std::vector<std::string>> addresses_for(X509* cert, const std::optional<std::string>& want) {
  auto emails = cert_emails(cert);
  if (emails.empty()) return fail("certificate " + subject_line(cert) + " names no e-mail address");
  if (!want) return emails;
  auto n = normalise_address(*want);
  for (const auto& e : emails) {
    if (e == n) return std::vector<std::string>{n};
  }
  return fail("certificate e-mail (" + join(emails) + ") does not match " + n);
}

}  // namespace

Status KeyAdmin::ca_init(const CaOptions& options) {
  for (const auto& d : options.domains) {
    if (!is_domain(d)) return fail("not a domain name: " + d);
  }
  if (options.days <= 0) return fail("--days must be positive");
  auto key = generate_key(options.algorithm);
  if (!key) return key.take_error();
  auto cert = make_ca_certificate(key->get(), options.common_name, options.domains,
                                  Validity{now_(), options.days});
  if (!cert) return cert.take_error();
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  if (auto st = w->set_internal_ca(cert->get(), key->get(), options.domains); !st) return st;
  return w->commit();
}

Result<std::string> KeyAdmin::ca_certificate_pem() {
  auto ca = store_->internal_ca();
  if (!ca) return ca.take_error();
  return pem_of(ca->cert.get());
}

Result<CertificateInfo> KeyAdmin::generate(std::string_view address,
                                           const GenerateOptions& options) {
  if (!is_valid_address(address)) return fail("not an e-mail address: " + std::string(address));
  if (options.days <= 0) return fail("--days must be positive");
  auto addr = normalise_address(address);
  std::optional<InternalCa> ca;
  if (!options.self_signed) {
    auto found = store_->internal_ca();
    if (!found) return fail(found.error() + ", or use --self-signed");
    bool permitted = found->domains.empty();
    for (const auto& d : found->domains) permitted = permitted || d == domain_of(addr);
    if (!permitted) {
      return fail("the internal CA is for " + join(found->domains) + ", not " + domain_of(addr));
    }
    ca = std::move(found).value();
  }
  auto key = generate_key(options.algorithm);
  if (!key) return key.take_error();
  auto cert = make_user_certificate(key->get(), addr, ca ? ca->cert.get() : nullptr,
                                    ca ? ca->key.get() : nullptr, Validity{now_(), options.days});
  if (!cert) return cert.take_error();
  std::vector<crypto::X509Ptr> chain;
  if (ca) chain.push_back(crypto::share(ca->cert.get()));
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  if (auto st = w->add_secret_key(addr, cert->get(), key->get(), chain); !st) {
    return st.take_error();
  }
  if (auto st = w->commit(); !st) return st.take_error();
  return certificate_info(addr, cert->get(), key->get(), /*has_secret=*/true);
}

Result<std::vector<std::string>> KeyAdmin::import(std::string_view file,
                                                  const ImportOptions& options,
                                                  const SecretBytes* passphrase) {
  if (options.address && !is_valid_address(*options.address)) {
    return fail("not an e-mail address: " + *options.address);
  }
  if (is_openpgp_data(file)) return import_openpgp(file, options, passphrase);
  auto plan = parse_import(file, options.key_file ? &*options.key_file : nullptr, passphrase);
  if (!plan) return plan.take_error();
  std::vector<std::string> lines;
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  switch (plan->kind) {
    case ImportKind::identity: {
      X509* cert = plan->certs.front().get();
      auto addrs = addresses_for(cert, options.address);
      if (!addrs) return addrs.take_error();
      for (const auto& a : addrs.value()) {
        if (auto st = w->add_secret_key(a, cert, plan->key.get(), plan->chain); !st) {
          return st.take_error();
        }
        lines.push_back("certificate and secret key for " + a + " " + fingerprint(cert));
      }
      break;
    }
    case ImportKind::certificates:
      for (auto& c : plan->certs) {
        auto addrs = addresses_for(c.get(), options.address);
        if (!addrs) return addrs.take_error();
        for (const auto& a : addrs.value()) {
          if (auto st = w->add_certificate(a, c.get()); !st) return st.take_error();
          lines.push_back("certificate for " + a + " " + fingerprint(c.get()));
        }
      }
      if (plan->ignored_ca > 0) {
        lines.push_back(std::to_string(plan->ignored_ca) +
                        " CA certificate(s) not trusted: import them on their own to trust them");
      }
      break;
    case ImportKind::trust_anchors:
      if (options.address)
        return fail("the file holds only CA certificates, not " + *options.address);
      for (auto& c : plan->anchors) {
        if (auto st = w->add_trust_anchor(c.get()); !st) return st.take_error();
        lines.push_back("trust anchor " + subject_line(c.get()) + " " + fingerprint(c.get()));
      }
      break;
    case ImportKind::crls:
      break;
  }
  for (auto& crl : plan->crls) {
    if (auto st = w->add_crl(crl.get()); !st) return st.take_error();
    lines.push_back("CRL " + sha256_hex(der_of(crl.get())));
  }
  if (auto st = w->commit(); !st) return st.take_error();
  return lines;
}

}  // namespace mailseal::keys
