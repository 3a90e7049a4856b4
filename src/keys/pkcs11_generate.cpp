// Key generation inside a PKCS#11 token with the C API (pkcs11_module.h), then
// certificate issuance by the internal CA and filing in token and store.
#include "keys/pkcs11_generate.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "keys/address.h"
#include "keys/pkcs11_module.h"
#include "keys/x509_util.h"

namespace mailseal::keys {
namespace {

struct Spec {
  bool ec = false;
  CK_ULONG bits = 0;
  std::string curve_oid;  // DER OBJECT IDENTIFIER (CKA_EC_PARAMS)
  const char* group = "";
};

Result<Spec> spec_for(KeyAlgorithm alg) {
  switch (alg) {
    case KeyAlgorithm::rsa2048:
      return Spec{false, 2048, "", ""};
    case KeyAlgorithm::rsa3072:
      return Spec{false, 3072, "", ""};
    case KeyAlgorithm::rsa4096:
      return Spec{false, 4096, "", ""};
    case KeyAlgorithm::p256:
      return Spec{true, 0, std::string("\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10), "P-256"};
    case KeyAlgorithm::p384:
      return Spec{true, 0, std::string("\x06\x05\x2b\x81\x04\x00\x22", 7), "P-384"};
  }
  return fail("unsupported algorithm");
}

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE t, const void* p, std::size_t n) {
  return CK_ATTRIBUTE{t, const_cast<void*>(p), static_cast<CK_ULONG>(n)};
}

// The public half as an OpenSSL key, to put into the certificate.
Result<crypto::PKeyPtr> public_key(Pkcs11Session& s, CK_OBJECT_HANDLE pub, const Spec& spec) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  BIGNUM *n = nullptr, *e = nullptr;
  std::string point;
  bool ok = bld != nullptr;
  if (ok && !spec.ec) {
    auto mod = s.attribute(pub, CKA_MODULUS);
    auto exp = s.attribute(pub, CKA_PUBLIC_EXPONENT);
    if (!mod || !exp) {
      OSSL_PARAM_BLD_free(bld);
      return fail("cannot read the public key from the token");
    }
    n = BN_bin2bn(reinterpret_cast<const unsigned char*>(mod->data()),
                  static_cast<int>(mod->size()), nullptr);
    e = BN_bin2bn(reinterpret_cast<const unsigned char*>(exp->data()),
                  static_cast<int>(exp->size()), nullptr);
    ok = n && e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  } else if (ok) {
    // CKA_EC_POINT is the point wrapped in a DER OCTET STRING (PKCS#11 2.40 2.3.3).
    auto der = s.attribute(pub, CKA_EC_POINT);
    if (!der) {
      OSSL_PARAM_BLD_free(bld);
      return fail("cannot read the public key from the token");
    }
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
    ASN1_OCTET_STRING* os = d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(der->size()));
    if (os) {
      point.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(os)),
                   static_cast<std::size_t>(ASN1_STRING_length(os)));
      ASN1_OCTET_STRING_free(os);
    } else {
      point = der.value();  // some modules return the raw point
    }
    ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, spec.group, 0) &&
         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  }
  OSSL_PARAM* params = ok ? OSSL_PARAM_BLD_to_param(bld) : nullptr;
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, spec.ec ? "EC" : "RSA", nullptr);
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  if (!key) return fail("the token's public key is not usable: " + openssl_error());
  return crypto::PKeyPtr(key);
}

std::string der_name(const X509_NAME* name) {
  unsigned char* p = nullptr;
  int n = i2d_X509_NAME(name, &p);
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(p), n) : std::string();
  OPENSSL_free(p);
  return out;
}

std::string der_serial(X509* cert) {
  unsigned char* p = nullptr;
  int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &p);
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(p), n) : std::string();
  OPENSSL_free(p);
  return out;
}

// A CKO_CERTIFICATE object (X.509) in the token.
Result<CK_OBJECT_HANDLE> store_certificate(Pkcs11Session& s, X509* cert, const std::string& id,
                                           const std::string& label) {
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE type = CKC_X_509;
  CK_BBOOL yes = CK_TRUE;
  std::string value = der_of(cert);
  std::string subject = der_name(X509_get_subject_name(cert));
  std::string issuer = der_name(X509_get_issuer_name(cert));
  std::string serial = der_serial(cert);
  CK_ATTRIBUTE t[] = {
      attr(CKA_CLASS, &cls, sizeof cls),
      attr(CKA_CERTIFICATE_TYPE, &type, sizeof type),
      attr(CKA_TOKEN, &yes, sizeof yes),
      attr(CKA_ID, id.data(), id.size()),
      attr(CKA_LABEL, label.data(), label.size()),
      attr(CKA_SUBJECT, subject.data(), subject.size()),
      attr(CKA_ISSUER, issuer.data(), issuer.size()),
      attr(CKA_SERIAL_NUMBER, serial.data(), serial.size()),
      attr(CKA_VALUE, value.data(), value.size()),
  };
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = s.api()->C_CreateObject(s.handle(), t, sizeof t / sizeof t[0], &h);
  if (rv != CKR_OK) return fail("storing the certificate in the token: " + ckr_name(rv));
  return h;
}

// The CA certificate goes into the token once (found by value), so the token is a
// complete identity: key, certificate and the chain to send along.
Status ensure_ca_in_token(Pkcs11Session& s, X509* ca) {
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  std::string value = der_of(ca);
  CK_ATTRIBUTE q[] = {attr(CKA_CLASS, &cls, sizeof cls),
                      attr(CKA_VALUE, value.data(), value.size())};
  auto found = s.find(q, 2);
  if (!found) return found.take_error();
  if (!found->empty()) return ok_status();
  std::string fp = fingerprint(ca);
  auto h = store_certificate(s, ca, fp.substr(0, 16), "mailseal internal CA");
  if (!h) return h.take_error();
  return ok_status();
}

}  // namespace

Result<CertificateInfo> generate_in_token(KeyAdmin& admin, const Pkcs11Settings& token,
                                          std::string_view address, const GenerateOptions& options,
                                          std::int64_t now) {
  if (!token.enabled()) return fail("--token needs [keys.pkcs11] in the configuration (--config)");
  if (!is_valid_address(address)) return fail("not an e-mail address: " + std::string(address));
  if (options.days <= 0) return fail("--days must be positive");
  if (options.self_signed)
    return fail("--self-signed cannot be combined with --token: the internal CA issues it");
  auto spec = spec_for(options.algorithm);
  if (!spec) return spec.take_error();
  std::string addr = normalise_address(address);
  auto ca = admin.store().internal_ca();
  if (!ca) return fail(ca.error());
  std::string domain = addr.substr(addr.rfind('@') + 1);
  if (!ca->domains.empty() &&
      std::find(ca->domains.begin(), ca->domains.end(), domain) == ca->domains.end())
    return fail("the internal CA is not for " + domain);

  auto module = Pkcs11Module::load(token.module);
  if (!module) return module.take_error();
  auto slot = module.value()->find_token(token.token);
  if (!slot) return slot.take_error();
  auto pin = read_pin_file(token.pin_file);
  if (!pin) return pin.take_error();
  auto session = Pkcs11Session::open(*module.value(), slot.value(), pin.value());
  if (!session) return session.take_error();
  Pkcs11Session& s = *session.value();

  // CKA_ID pairs key, public key and certificate (libp11 and other tools match on it).
  std::string id(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(id.data()), 16) != 1)
    return fail("no randomness for the key id");
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = spec->bits;
  const unsigned char exponent[] = {0x01, 0x00, 0x01};
  std::vector<CK_ATTRIBUTE> pub = {
      attr(CKA_TOKEN, &yes, sizeof yes), attr(CKA_VERIFY, &yes, sizeof yes),
      attr(CKA_ID, id.data(), id.size()), attr(CKA_LABEL, addr.data(), addr.size())};
  // The private key: CKA_SENSITIVE and not CKA_EXTRACTABLE, so the token never reveals
  // it, not even wrapped; CKA_PRIVATE so only a logged-in user can use it.
  std::vector<CK_ATTRIBUTE> priv = {
      attr(CKA_TOKEN, &yes, sizeof yes),        attr(CKA_PRIVATE, &yes, sizeof yes),
      attr(CKA_SENSITIVE, &yes, sizeof yes),    attr(CKA_EXTRACTABLE, &no, sizeof no),
      attr(CKA_SIGN, &yes, sizeof yes),         attr(CKA_ID, id.data(), id.size()),
      attr(CKA_LABEL, addr.data(), addr.size())};
  CK_MECHANISM mech{spec->ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  if (spec->ec) {
    pub.push_back(attr(CKA_EC_PARAMS, spec->curve_oid.data(), spec->curve_oid.size()));
    priv.push_back(attr(CKA_DERIVE, &yes, sizeof yes));  // ECDH for decryption (RFC 5753)
  } else {
    pub.push_back(attr(CKA_MODULUS_BITS, &bits, sizeof bits));
    pub.push_back(attr(CKA_PUBLIC_EXPONENT, exponent, sizeof exponent));
    pub.push_back(attr(CKA_ENCRYPT, &yes, sizeof yes));
    priv.push_back(attr(CKA_DECRYPT, &yes, sizeof yes));
  }
  CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
  CK_RV rv =
      s.api()->C_GenerateKeyPair(s.handle(), &mech, pub.data(), static_cast<CK_ULONG>(pub.size()),
                                 priv.data(), static_cast<CK_ULONG>(priv.size()), &hpub, &hpriv);
  if (rv != CKR_OK) return fail("C_GenerateKeyPair in the token: " + ckr_name(rv));
  // From here on a failure removes what was created: no orphan key without certificate.
  std::vector<CK_OBJECT_HANDLE> created{hpub, hpriv};
  auto undo = [&](KeyError e) {
    for (auto h : created) s.api()->C_DestroyObject(s.handle(), h);
    return e;
  };

  auto key = public_key(s, hpub, spec.value());
  if (!key) return undo(key.take_error());
  auto cert = make_user_certificate(key->get(), addr, ca->cert.get(), ca->key.get(),
                                    Validity{now, options.days});
  if (!cert) return undo(cert.take_error());
  auto hcert = store_certificate(s, cert->get(), id, addr);
  if (!hcert) return undo(hcert.take_error());
  created.push_back(hcert.value());
  if (auto st = ensure_ca_in_token(s, ca->cert.get()); !st) return undo(st.take_error());

  auto w = admin.store().begin_write();
  if (!w) return undo(w.take_error());
  if (auto st = w->add_certificate(addr, cert->get()); !st) return undo(st.take_error());
  if (auto st = w->commit(); !st) return undo(st.take_error());

  // not in the store: in the token
  return certificate_info(addr, cert->get(), key->get(), /*has_secret=*/false);
}

}  // namespace mailseal::keys
