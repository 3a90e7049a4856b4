// Test-only PKI: generates CA and S/MIME leaf certificates (RSA or EC P-256) in memory,
// CRLs, PEM/PKCS#12 files in a temp dir, and runs external tools. Header-only so the
// gateway tests can include it too.
#pragma once

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/openssl_ptr.h"

namespace mailseal::testpki {

using namespace mailseal::crypto;

enum class Alg { rsa, ec };

struct Identity {
  X509Ptr cert;
  PKeyPtr key;
};

inline PKeyPtr gen_key(Alg alg) {
  return PKeyPtr(alg == Alg::rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

struct LeafSpec {
  std::string email;
  Alg alg = Alg::rsa;
  long not_before_days = -1;  // relative to now
  long not_after_days = 365;
  const char* eku = "emailProtection";  // nullptr: no EKU extension
  long serial = 2;
  bool email_in_dn = false;  // emailAddress in the subject DN instead of a SAN
};

inline X509Ptr new_cert(EVP_PKEY* key, const std::string& cn, long serial, long nb_days,
                        long na_days) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), nb_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), na_days * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

inline Identity make_ca(const std::string& cn, Alg alg = Alg::rsa) {
  Identity ca{nullptr, gen_key(alg)};
  ca.cert = new_cert(ca.key.get(), cn, 1, -30, 3650);
  X509_set_issuer_name(ca.cert.get(), X509_get_subject_name(ca.cert.get()));
  add_ext(ca.cert.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.cert.get(), ca.cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca.cert.get(), ca.cert.get(), NID_subject_key_identifier, "hash");
  X509_sign(ca.cert.get(), ca.key.get(), EVP_sha256());
  return ca;
}

inline Identity make_leaf(const Identity& ca, const LeafSpec& spec) {
  Identity id{nullptr, gen_key(spec.alg)};
  id.cert =
      new_cert(id.key.get(), spec.email, spec.serial, spec.not_before_days, spec.not_after_days);
  if (spec.email_in_dn) {
    X509_NAME_add_entry_by_txt(X509_get_subject_name(id.cert.get()), "emailAddress", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.email.c_str()), -1, -1,
                               0);
  }
  X509_set_issuer_name(id.cert.get(), X509_get_subject_name(ca.cert.get()));
  add_ext(id.cert.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(id.cert.get(), ca.cert.get(), NID_key_usage,
          spec.alg == Alg::rsa ? "critical,digitalSignature,keyEncipherment"
                               : "critical,digitalSignature,keyAgreement");
  if (spec.eku) add_ext(id.cert.get(), ca.cert.get(), NID_ext_key_usage, spec.eku);
  if (!spec.email_in_dn)
    add_ext(id.cert.get(), ca.cert.get(), NID_subject_alt_name, ("email:" + spec.email).c_str());
  add_ext(id.cert.get(), ca.cert.get(), NID_subject_key_identifier, "hash");
  add_ext(id.cert.get(), ca.cert.get(), NID_authority_key_identifier, "keyid");
  X509_sign(id.cert.get(), ca.key.get(), EVP_sha256());
  return id;
}

inline X509CrlPtr make_crl(const Identity& ca, const std::vector<long>& revoked) {
  X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get()));
  ASN1_TIME* t = ASN1_TIME_adj(nullptr, time(nullptr), -1, 0);
  X509_CRL_set1_lastUpdate(crl.get(), t);
  ASN1_TIME_adj(t, time(nullptr), 30, 0);
  X509_CRL_set1_nextUpdate(crl.get(), t);
  for (long serial : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* s = ASN1_INTEGER_new();
    ASN1_INTEGER_set(s, serial);
    X509_REVOKED_set_serialNumber(r, s);
    ASN1_TIME_adj(t, time(nullptr), -1, 0);
    X509_REVOKED_set_revocationDate(r, t);
    X509_CRL_add0_revoked(crl.get(), r);
    ASN1_INTEGER_free(s);
  }
  ASN1_TIME_free(t);
  X509_CRL_sort(crl.get());
  X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256());
  return crl;
}

inline std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

inline std::string cert_pem(X509* cert) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert);
  return bio_string(b.get());
}

inline std::string key_pem(EVP_PKEY* key) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(b.get());
}

inline std::string crl_pem(X509_CRL* crl) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(b.get(), crl);
  return bio_string(b.get());
}

// A memory BIO holding its own copy of `s` (safe with temporaries).
inline BioPtr mem_bio(const std::string& s) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!s.empty()) BIO_write(b.get(), s.data(), static_cast<int>(s.size()));
  BIO_set_mem_eof_return(b.get(), 0);
  return b;
}

inline void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  f << data;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailseal-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

// Runs a shell command; returns its exit status (0 = success).
inline int run(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline bool have_tool(const std::string& tool) {
  return run("command -v " + tool) == 0;
}

}  // namespace mailseal::testpki
