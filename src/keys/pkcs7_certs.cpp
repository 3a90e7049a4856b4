// PKCS#7 certs-only parsing (see pkcs7_certs.h).
#include "keys/pkcs7_certs.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include <memory>

namespace mailseal::keys {

namespace {
struct Pkcs7Free {
  void operator()(PKCS7* p) const { PKCS7_free(p); }
};
using Pkcs7Ptr = std::unique_ptr<PKCS7, Pkcs7Free>;

Pkcs7Ptr parse(std::string_view blob) {
  if (blob.empty() || blob.size() > (1u << 24)) return nullptr;
  if (blob.substr(0, 11) == "-----BEGIN ") {
    crypto::BioPtr bio(BIO_new_mem_buf(blob.data(), static_cast<int>(blob.size())));
    if (!bio) return nullptr;
    return Pkcs7Ptr(PEM_read_bio_PKCS7(bio.get(), nullptr, nullptr, nullptr));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(blob.size())));
  // Trailing bytes after the structure: not what the attribute should hold.
  if (p7 && p != reinterpret_cast<const unsigned char*>(blob.data()) + blob.size()) return nullptr;
  return p7;
}
}  // namespace

std::vector<crypto::X509Ptr> pkcs7_certificates(std::string_view blob) {
  std::vector<crypto::X509Ptr> out;
  Pkcs7Ptr p7 = parse(blob);
  ERR_clear_error();  // a failed parse leaves reasons nobody will read
  if (!p7 || OBJ_obj2nid(p7->type) != NID_pkcs7_signed || !p7->d.sign) return out;
  STACK_OF(X509)* certs = p7->d.sign->cert;
  for (int i = 0; certs && i < sk_X509_num(certs); ++i)
    out.push_back(crypto::share(sk_X509_value(certs, i)));
  return out;
}

}  // namespace mailseal::keys
