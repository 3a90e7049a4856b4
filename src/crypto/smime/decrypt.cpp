// smime::decrypt: EnvelopedData / AuthEnvelopedData with the first candidate key that is
// a recipient. Distinguishes "not for us" (wrong_key) from damage (integrity).
#include <openssl/err.h>

#include <vector>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {

// True when `cert` names one of the RecipientInfos (ktri by issuer/serial or SKI, kari
// by each RecipientEncryptedKey).
bool is_recipient(CMS_ContentInfo* cms, X509* cert) {
  if (!cms || !cert) return false;
  STACK_OF(CMS_RecipientInfo)* ris = CMS_get0_RecipientInfos(cms);
  for (int i = 0; ris && i < sk_CMS_RecipientInfo_num(ris); ++i) {
    CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(ris, i);
    int type = CMS_RecipientInfo_type(ri);
    if (type == CMS_RECIPINFO_TRANS && CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0) return true;
    if (type == CMS_RECIPINFO_AGREE) {
      STACK_OF(CMS_RecipientEncryptedKey)* reks = CMS_RecipientInfo_kari_get0_reks(ri);
      for (int j = 0; reks && j < sk_CMS_RecipientEncryptedKey_num(reks); ++j) {
        if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, j), cert) ==
            0)
          return true;
      }
    }
  }
  return false;
}

DecryptResult decrypt(CMS_ContentInfo* cms, BIO* out, const std::vector<RecipientKey>& keys,
                      BIO* detached_content) {
  DecryptResult result;
  ERR_clear_error();
  if (!cms || !out) {
    result.status = Status::fail(Failure::bad_input, "missing input");
    return result;
  }
  int nid = OBJ_obj2nid(CMS_get0_type(cms));
  if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData) {
    result.status = Status::fail(Failure::bad_input, "not enveloped or authEnveloped data");
    return result;
  }
  int chosen = -1;
  for (std::size_t i = 0; i < keys.size() && chosen < 0; ++i) {
    if (!keys[i].cert || !keys[i].key || !is_recipient(cms, keys[i].cert)) continue;
    if (CMS_decrypt_set1_pkey_and_peer(cms, keys[i].key, keys[i].cert, nullptr) != 1) {
      result.status = Status::fail(Failure::integrity,
                                   "content key cannot be recovered: " + drain_openssl_errors());
      return result;
    }
    chosen = static_cast<int>(i);
  }
  if (chosen < 0) {
    result.status = Status::fail(Failure::wrong_key, "no candidate key is a recipient");
    return result;
  }
  // The content goes through the cipher BIO of CMS_dataInit straight into `out`.
  // (CMS_decrypt would hold all of an AuthEnvelopedData plaintext in a memory BIO until
  // the tag is checked: 50 MB messages must stream. Here the caller's contract holds
  // instead: on failure `out` has unauthenticated bytes and must be discarded.)
  // The GCM tag / CBC padding is checked by the cipher BIO at the end of the content.
  BIO* chain = CMS_dataInit(cms, detached_content);
  if (!chain) {
    result.status = Status::fail(Failure::malformed,
                                 "encrypted content cannot be read: " + drain_openssl_errors());
    return result;
  }
  bool ok = true, written = true;
  std::vector<char> buf(65536);
  while (true) {
    int n = BIO_read(chain, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0) {
      ok =
          n == 0 && (BIO_method_type(chain) != BIO_TYPE_CIPHER || BIO_get_cipher_status(chain) > 0);
      break;
    }
    if (BIO_write(out, buf.data(), n) != n) {
      written = false;
      break;
    }
  }
  while (chain && chain != detached_content) {  // free what CMS_dataInit added
    BIO* next = BIO_pop(chain);
    BIO_free(chain);
    chain = next;
  }
  if (!written) {
    result.status = Status::fail(Failure::io, "writing plaintext failed");
    return result;
  }
  if (!ok) {
    result.status =
        Status::fail(Failure::integrity, "content decryption failed: " + drain_openssl_errors());
    return result;
  }
  if (BIO_flush(out) != 1) {
    result.status = Status::fail(Failure::io, "writing plaintext failed");
    return result;
  }
  result.key_index = chosen;
  result.authenticated = nid == NID_id_smime_ct_authEnvelopedData;
  result.status = Status::success();
  return result;
}

}  // namespace mailseal::crypto::smime
