#include "keys/pkcs12_gpgsm.h"

#include "keys/secret_bytes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <vector>

namespace mailseal::keys {
namespace {

constexpr std::size_t kBlock = 64;   // v of RFC 7292 B.2 for SHA-1
constexpr std::size_t kDigest = 20;  // u: SHA-1 output
constexpr unsigned char kKeyId = 1;  // ID byte for key material (IV is 2, MAC 3)
constexpr std::size_t kTripleDesKey = 24;

// S or P of RFC 7292 B.2: the input repeated to fill whole 64-byte blocks.
void append_repeated(std::vector<unsigned char>& out, std::span<const unsigned char> in) {
  if (in.empty()) return;
  std::size_t len = kBlock * ((in.size() + kBlock - 1) / kBlock);
  for (std::size_t i = 0; i < len; ++i) out.push_back(in[i % in.size()]);
}

std::array<unsigned char, kDigest> round_hash(const std::vector<unsigned char>& i_blocks,
                                              std::uint64_t iterations) {
  std::array<unsigned char, kDigest> a{};
  const std::array<unsigned char, kBlock> diversifier = [] {
    std::array<unsigned char, kBlock> d;
    d.fill(kKeyId);
    return d;
  }();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha1(), nullptr);
  EVP_DigestUpdate(md.get(), diversifier.data(), diversifier.size());
  EVP_DigestUpdate(md.get(), i_blocks.data(), i_blocks.size());
  EVP_DigestFinal_ex(md.get(), a.data(), nullptr);
  for (std::uint64_t n = 1; n < iterations; ++n)
    EVP_Digest(a.data(), a.size(), a.data(), nullptr, EVP_sha1(), nullptr);
  return a;
}

// Judges one AlgorithmIdentifier: true unless it is PBE-SHA1-3DES with a salt gpgsm 2.2
// would derive a wrong key from.
Result<bool> algorithm_ok(const X509_ALGOR* alg, std::span<const unsigned char> bmp) {
  const ASN1_OBJECT* oid = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg);
  if (OBJ_obj2nid(oid) != NID_pbe_WithSHA1And3_Key_TripleDES_CBC) return true;
  if (ptype != V_ASN1_SEQUENCE) return fail("PKCS#12: PBE parameters missing");
  std::unique_ptr<PBEPARAM, decltype(&PBEPARAM_free)> pbe(
      static_cast<PBEPARAM*>(
          ASN1_item_unpack(static_cast<const ASN1_STRING*>(pval), ASN1_ITEM_rptr(PBEPARAM))),
      PBEPARAM_free);
  if (!pbe) return fail("PKCS#12: PBE parameters unreadable");
  long iter = ASN1_INTEGER_get(pbe->iter);
  if (iter <= 0) return fail("PKCS#12: bad PBE iteration count");
  std::span<const unsigned char> salt(ASN1_STRING_get0_data(pbe->salt),
                                      static_cast<std::size_t>(ASN1_STRING_length(pbe->salt)));
  return gpgsm22_derives_same_key(salt, static_cast<std::uint64_t>(iter), bmp, kTripleDesKey);
}

Result<bool> bags_ok(const STACK_OF(PKCS12_SAFEBAG) * bags, std::span<const unsigned char> bmp) {
  for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); ++i) {
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, i);
    if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag) continue;
    const X509_ALGOR* alg = nullptr;
    X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, nullptr);
    auto ok = algorithm_ok(alg, bmp);
    if (!ok || !ok.value()) return ok;
  }
  return true;
}

}  // namespace

bool gpgsm22_derives_same_key(std::span<const unsigned char> salt, std::uint64_t iterations,
                              std::span<const unsigned char> bmp_password, std::size_t key_bytes) {
  std::vector<unsigned char> i_blocks;
  append_repeated(i_blocks, salt);
  append_repeated(i_blocks, bmp_password);
  struct Wipe {
    std::vector<unsigned char>& v;
    ~Wipe() { OPENSSL_cleanse(v.data(), v.size()); }
  } wipe{i_blocks};  // the blocks hold the password
  for (std::size_t have = kDigest; have < key_bytes; have += kDigest) {
    auto a = round_hash(i_blocks, iterations);
    // I_j = (I_j + B + 1) mod 2^512, B = A repeated to 64 bytes; big-endian.
    for (std::size_t j = 0; j < i_blocks.size(); j += kBlock) {
      unsigned carry = 1;
      for (std::size_t k = kBlock; k-- > 0;) {
        unsigned sum = i_blocks[j + k] + a[k % kDigest] + carry;
        i_blocks[j + k] = static_cast<unsigned char>(sum);
        carry = sum >> 8;
      }
      // gpgsm writes the sum back without its leading zero bytes: from here on its
      // blocks differ from RFC 7292's.
      if (i_blocks[j] == 0) return false;
    }
  }
  return true;
}

Result<bool> gpgsm22_can_decrypt(PKCS12& p12, std::string_view passphrase) {
  unsigned char* uni = nullptr;
  int unilen = 0;
  if (!OPENSSL_utf82uni(passphrase.data(), static_cast<int>(passphrase.size()), &uni, &unilen))
    return fail("PKCS#12: passphrase is not valid UTF-8");
  SecretBytes owned(uni, static_cast<std::size_t>(unilen));
  OPENSSL_clear_free(uni, static_cast<std::size_t>(unilen));
  std::span<const unsigned char> bmp(owned.data(), owned.size());

  std::unique_ptr<STACK_OF(PKCS7), void (*)(STACK_OF(PKCS7)*)> safes(
      PKCS12_unpack_authsafes(&p12), [](STACK_OF(PKCS7) * s) { sk_PKCS7_pop_free(s, PKCS7_free); });
  if (!safes) return fail("PKCS#12: cannot read the authenticated safes");
  auto free_bags = [](STACK_OF(PKCS12_SAFEBAG) * b) {
    sk_PKCS12_SAFEBAG_pop_free(b, PKCS12_SAFEBAG_free);
  };
  for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes.get(), i);
    std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), decltype(free_bags)> bags(nullptr, free_bags);
    switch (OBJ_obj2nid(p7->type)) {
      case NID_pkcs7_data:
        bags.reset(PKCS12_unpack_p7data(p7));
        break;
      case NID_pkcs7_encrypted: {
        auto ok = algorithm_ok(p7->d.encrypted->enc_data->algorithm, bmp);
        if (!ok || !ok.value()) return ok;
        bags.reset(
            PKCS12_unpack_p7encdata(p7, passphrase.data(), static_cast<int>(passphrase.size())));
        break;
      }
      default:
        continue;
    }
    if (!bags) return fail("PKCS#12: cannot read a safe");
    auto ok = bags_ok(bags.get(), bmp);
    if (!ok || !ok.value()) return ok;
  }
  return true;
}

}  // namespace mailseal::keys
