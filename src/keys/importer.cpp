// Import parsing. Errors are one line and name the problem (wrong passphrase, malformed
// file, key not matching), never the secret material.

#include "keys/importer.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include <cstring>

#include "keys/x509_util.h"

namespace mailseal::keys {
namespace {

constexpr const char* kNeedPassphrase =
    "needs a passphrase (use --passphrase-file or MAILSEAL_PASSPHRASE)";

// The passphrase as a NUL-terminated C string in a wiped buffer.
SecretBytes c_string(const SecretBytes* p) {
  SecretBytes s(p ? p->size() + 1 : 1);
  if (p && !p->empty()) std::memcpy(s.data(), p->data(), p->size());
  s.data()[s.size() - 1] = 0;
  return s;
}

int pem_password(char* buf, int size, int, void* u) {
  const auto* p = static_cast<const SecretBytes*>(u);
  if (!p || p->empty() || p->size() > static_cast<std::size_t>(size)) return -1;
  std::memcpy(buf, p->data(), p->size());
  return static_cast<int>(p->size());
}

Status parse_pkcs12(PKCS12* p12, const SecretBytes* passphrase, ImportPlan& plan) {
  auto pass = c_string(passphrase);
  const char* pw = reinterpret_cast<const char*>(pass.data());
  // Like `openssl pkcs12`: with no passphrase try "" and then no password at all.
  if (PKCS12_mac_present(p12)) {
    bool ok = PKCS12_verify_mac(p12, pw, -1) == 1;
    if (!ok && !passphrase && PKCS12_verify_mac(p12, nullptr, 0) == 1) {
      ok = true;
      pw = nullptr;
    }
    if (!ok) {
      openssl_error();
      return fail(passphrase ? "wrong passphrase for the PKCS#12 file"
                             : std::string("the PKCS#12 file ") + kNeedPassphrase);
    }
  }
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  if (PKCS12_parse(p12, pw, &key, &cert, &ca) != 1) {
    // Files made with `openssl pkcs12 -legacy` (RC2/3DES) need the legacy provider.
    openssl_error();
    if (OSSL_PROVIDER_try_load(nullptr, "legacy", 1) == nullptr ||
        PKCS12_parse(p12, pw, &key, &cert, &ca) != 1) {
      return fail("cannot decrypt the PKCS#12 file: " + openssl_error());
    }
  }
  plan.key.reset(key);
  crypto::X509StackPtr chain(ca);
  if (!cert || !key) return fail("the PKCS#12 file holds no certificate with a private key");
  plan.kind = ImportKind::identity;
  plan.certs.emplace_back(cert);
  while (chain && sk_X509_num(chain.get()) > 0) plan.chain.emplace_back(sk_X509_shift(chain.get()));
  return ok_status();
}

// One PEM private key block, re-encoded so that PEM_read_bio_PrivateKey can decrypt it.
Result<crypto::PKeyPtr> pem_key(const char* name, const char* header, const unsigned char* data,
                                long len, const SecretBytes* passphrase) {
  crypto::BioPtr bio(BIO_new(BIO_s_secmem()));
  PEM_write_bio(bio.get(), name, header, data, len);
  bool encrypted = std::strstr(name, "ENCRYPTED") || std::strstr(header, "ENCRYPTED");
  if (encrypted && !passphrase) return fail(std::string("the private key ") + kNeedPassphrase);
  crypto::PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, pem_password,
                                              const_cast<SecretBytes*>(passphrase)));
  if (!key) {
    openssl_error();
    return fail(encrypted ? "wrong passphrase for the private key"
                          : "malformed private key in PEM file");
  }
  return key;
}

Status parse_pem(std::string_view text, const SecretBytes* passphrase, ImportPlan& plan,
                 std::vector<crypto::X509Ptr>& certs) {
  crypto::BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  for (;;) {
    char *name = nullptr, *header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      ERR_clear_error();  // end of input
      break;
    }
    std::string n = name;
    Status st = ok_status();
    const unsigned char* p = data;
    if (n == "CERTIFICATE" || n == "X509 CERTIFICATE") {
      crypto::X509Ptr c(d2i_X509(nullptr, &p, len));
      if (c)
        certs.push_back(std::move(c));
      else
        st = fail("malformed certificate in PEM file");
    } else if (n == "TRUSTED CERTIFICATE") {
      crypto::X509Ptr c(d2i_X509_AUX(nullptr, &p, len));
      if (c)
        certs.push_back(std::move(c));
      else
        st = fail("malformed certificate in PEM file");
    } else if (n == "X509 CRL") {
      crypto::X509CrlPtr c(d2i_X509_CRL(nullptr, &p, len));
      if (c)
        plan.crls.push_back(std::move(c));
      else
        st = fail("malformed CRL in PEM file");
    } else if (n.ends_with("PRIVATE KEY")) {
      if (plan.key) {
        st = fail("more than one private key in the input");
      } else {
        auto k = pem_key(name, header, data, len, passphrase);
        if (k)
          plan.key = std::move(k).value();
        else
          st = k.take_error();
      }
      OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    }  // other blocks (parameters, requests) are skipped
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!st) return st;
  }
  return ok_status();
}

Status parse_der(std::string_view bytes, const SecretBytes* passphrase, ImportPlan& plan,
                 std::vector<crypto::X509Ptr>& certs) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  auto len = static_cast<long>(bytes.size());
  if (PKCS12* p12 = d2i_PKCS12(nullptr, &p, len)) {
    auto st = parse_pkcs12(p12, passphrase, plan);
    PKCS12_free(p12);
    return st;
  }
  if (auto c = x509_from_der(bytes)) {
    certs.push_back(std::move(c));
    return ok_status();
  }
  if (auto c = crl_from_der(bytes)) {
    plan.crls.push_back(std::move(c));
    return ok_status();
  }
  openssl_error();
  return fail("malformed file: not PKCS#12, PEM, or a DER certificate or CRL");
}

// Sorts loose certificates (and an optional loose key) into the plan's kind.
Status classify(ImportPlan& plan, std::vector<crypto::X509Ptr>& certs) {
  if (plan.kind == ImportKind::identity) return ok_status();  // PKCS#12 already sorted
  if (plan.key) {
    for (auto& c : certs) {
      if (plan.certs.empty() && X509_check_private_key(c.get(), plan.key.get()) == 1) {
        plan.certs.push_back(std::move(c));
      } else {
        plan.chain.push_back(std::move(c));
      }
    }
    openssl_error();
    if (plan.certs.empty()) return fail("the private key matches none of the certificates");
    plan.kind = ImportKind::identity;
    return ok_status();
  }
  bool all_ca = !certs.empty();
  for (auto& c : certs) all_ca = all_ca && is_ca(c.get());
  if (all_ca) {
    plan.kind = ImportKind::trust_anchors;
    plan.anchors = std::move(certs);
    return ok_status();
  }
  if (certs.empty()) {
    if (plan.crls.empty()) return fail("malformed file: no certificate, key or CRL found");
    plan.kind = ImportKind::crls;
    return ok_status();
  }
  plan.kind = ImportKind::certificates;
  for (auto& c : certs) {
    if (is_ca(c.get()))
      ++plan.ignored_ca;
    else
      plan.certs.push_back(std::move(c));
  }
  return ok_status();
}

bool looks_like_pem(std::string_view s) {
  return s.find("-----BEGIN ") != std::string_view::npos;
}

}  // namespace

Result<ImportPlan> parse_import(std::string_view file, const std::string* key_file,
                                const SecretBytes* passphrase) {
  ImportPlan plan;
  std::vector<crypto::X509Ptr> certs;
  if (file.empty()) return fail("the file is empty");
  auto st = looks_like_pem(file) ? parse_pem(file, passphrase, plan, certs)
                                 : parse_der(file, passphrase, plan, certs);
  if (!st) return st.take_error();
  if (key_file) {
    if (plan.key || plan.kind == ImportKind::identity) {
      return fail("the file already holds a private key; --key is not needed");
    }
    if (!looks_like_pem(*key_file)) return fail("the key file is not PEM");
    std::vector<crypto::X509Ptr> none;
    if (auto ks = parse_pem(*key_file, passphrase, plan, none); !ks) return ks.take_error();
    if (!plan.key) return fail("the key file holds no private key");
  }
  if (auto cs = classify(plan, certs); !cs) return cs.take_error();
  return plan;
}

}  // namespace mailseal::keys
