// X.509 helpers over OpenSSL 3; every returned pointer is an owning RAII type.

#include "keys/x509_util.h"

#include "keys/key_store.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "keys/key_source.h"

namespace mailseal::keys {

std::string openssl_error() {
  std::string last;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    last = reason ? reason : "openssl error";
  }
  return last;
}

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

std::string der_of(X509* cert) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(cert, &buf);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  return out;
}

crypto::X509Ptr x509_from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::X509Ptr c(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  // Trailing bytes mean this was not exactly one certificate.
  if (c && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) return {};
  return c;
}

std::string der_of(X509_CRL* crl) {
  unsigned char* buf = nullptr;
  int n = i2d_X509_CRL(crl, &buf);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  return out;
}

crypto::X509CrlPtr crl_from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return crypto::X509CrlPtr(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
}

std::string pem_of(X509* cert) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string fingerprint(X509* cert) {
  return sha256_hex(der_of(cert));
}

std::vector<std::string> cert_emails(X509* cert) {
  std::vector<std::string> out;
  auto add = [&](const ASN1_STRING* s) {
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<std::size_t>(ASN1_STRING_length(s)));
    auto n = normalise_address(v);
    for (const auto& e : out) {
      if (e == n) return;
    }
    out.push_back(std::move(n));
  };
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_EMAIL) add(gn->d.rfc822Name);
  }
  GENERAL_NAMES_free(names);
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, i)) >= 0;) {
    add(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
  }
  return out;
}

bool to_unix(const ASN1_TIME* t, std::int64_t& out) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = static_cast<std::int64_t>(timegm(&tm));
  return true;
}

std::string key_algorithm(EVP_PKEY* key) {
  if (!key) return "unknown";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA-" + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1) {
        std::string g(group, len);
        if (g == "prime256v1") return "EC-P-256";
        if (g == "secp384r1") return "EC-P-384";
        if (g == "secp521r1") return "EC-P-521";
        return "EC-" + g;
      }
      return "EC";
    }
    default: {
      const char* n = EVP_PKEY_get0_type_name(key);
      return n ? n : "unknown";
    }
  }
}

bool is_ca(X509* cert) {
  return X509_check_ca(cert) != 0;
}

std::string subject_line(X509* cert) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<SecretBytes> private_key_der(EVP_PKEY* key) {
  crypto::BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || i2d_PKCS8PrivateKey_bio(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail("cannot encode private key: " + openssl_error());
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return SecretBytes(data, static_cast<std::size_t>(n));
}

crypto::PKeyPtr private_key_from_der(const SecretBytes& der) {
  const unsigned char* p = der.data();
  return crypto::PKeyPtr(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
}

std::string der_chain(const std::vector<crypto::X509Ptr>& certs) {
  std::string out;
  for (const auto& c : certs) out += der_of(c.get());
  return out;
}

std::vector<crypto::X509Ptr> chain_from_der(std::string_view der) {
  std::vector<crypto::X509Ptr> out;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  while (p < end) {
    crypto::X509Ptr c(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
    if (!c) break;
    out.push_back(std::move(c));
  }
  return out;
}

CertificateInfo certificate_info(const std::string& address, X509* cert, EVP_PKEY* key,
                                 bool has_secret) {
  CertificateInfo info;
  info.address = address;
  info.algorithm = key_algorithm(key);
  info.fingerprint = fingerprint(cert);
  to_unix(X509_get0_notBefore(cert), info.not_before);
  to_unix(X509_get0_notAfter(cert), info.not_after);
  info.has_secret = has_secret;
  return info;
}

}  // namespace mailseal::keys
