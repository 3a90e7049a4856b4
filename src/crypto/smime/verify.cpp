// smime::verify_detached / verify_opaque: the signature over the exact bytes first
// (CMS_verify without chain checks), then the signer's chain to the given anchors at the
// given time with the S/MIME signing purpose (emailProtection EKU where present) and CRLs.
#include <openssl/err.h>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {
namespace {

void describe_signer(CMS_ContentInfo* cms, Verdict& v) {
  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms);
  if (!sis || sk_CMS_SignerInfo_num(sis) < 1) return;
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);
  X509* cert = nullptr;
  X509_ALGOR* dig = nullptr;
  X509_ALGOR* sig = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, &cert, &dig, &sig);
  const ASN1_OBJECT* obj = nullptr;
  if (dig) {
    X509_ALGOR_get0(&obj, nullptr, nullptr, dig);
    v.digest_algorithm = OBJ_nid2sn(OBJ_obj2nid(obj));
  }
  if (sig) {
    X509_ALGOR_get0(&obj, nullptr, nullptr, sig);
    v.signature_algorithm = OBJ_nid2sn(OBJ_obj2nid(obj));
  }
  if (cert) {
    v.signer = share(cert);
    v.signer_emails = cert_emails(cert);
    v.signer_fingerprint = cert_fingerprint_sha256(cert);
  }
}

bool has_crl_for(const std::vector<X509_CRL*>& crls, X509* cert) {
  for (X509_CRL* crl : crls)
    if (crl && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) == 0)
      return true;
  return false;
}

// Chain, dates, purpose and revocation of the signer; sets status and reason.
void check_chain(CMS_ContentInfo* cms, const VerifyContext& ctx, Verdict& v) {
  X509StackPtr untrusted(CMS_get1_certs(cms));
  if (!untrusted) untrusted.reset(sk_X509_new_null());
  for (X509* c : ctx.extra_certs) sk_X509_push(untrusted.get(), share(c).release());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> sc(X509_STORE_CTX_new(),
                                                                     X509_STORE_CTX_free);
  if (!sc || X509_STORE_CTX_init(sc.get(), ctx.trust, v.signer.get(), untrusted.get()) != 1) {
    v.reason = "cannot set up chain verification";
    return;
  }
  X509_STORE_CTX_set_purpose(sc.get(), X509_PURPOSE_SMIME_SIGN);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(sc.get());
  if (ctx.at_time) X509_VERIFY_PARAM_set_time(param, *ctx.at_time);
  STACK_OF(X509_CRL)* crls = sk_X509_CRL_new_null();
  for (X509_CRL* crl : ctx.crls) {
    X509_CRL_up_ref(crl);
    sk_X509_CRL_push(crls, crl);
  }
  X509_STORE_CTX_set0_crls(sc.get(), crls);
  if (has_crl_for(ctx.crls, v.signer.get()))
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);
  int ok = X509_verify_cert(sc.get());
  int err = X509_STORE_CTX_get_error(sc.get());
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(sc.get());
  if (ok == 1 && chain && sk_X509_num(chain) >= 2) v.issuer = share(sk_X509_value(chain, 1));
  sk_X509_CRL_pop_free(crls, X509_CRL_free);
  if (ok == 1) {
    v.status = VerdictStatus::valid;
    v.reason = "signature and certificate chain valid";
    return;
  }
  v.reason = std::string("certificate: ") + X509_verify_cert_error_string(err);
  if (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)
    v.status = VerdictStatus::expired;
  else if (err == X509_V_ERR_CERT_REVOKED)
    v.status = VerdictStatus::revoked;
  else
    v.status = VerdictStatus::untrusted;
}

Verdict verify_common(CMS_ContentInfo* cms, BIO* content, BIO* out, const VerifyContext& ctx) {
  Verdict v;
  ERR_clear_error();
  if (!cms || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    v.reason = "not signed-data";
    return v;
  }
  if (!ctx.trust) {
    v.reason = "no trust anchors given";
    return v;
  }
  bool embedded = CMS_get0_content(cms) != nullptr && *CMS_get0_content(cms);
  if ((content == nullptr) != embedded) {
    v.reason = content ? "signature is not detached" : "signed-data carries no content";
    return v;
  }
  describe_signer(cms, v);
  X509StackPtr extra(sk_X509_new_null());
  for (X509* c : ctx.extra_certs) sk_X509_push(extra.get(), share(c).release());
  unsigned int flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
  if (CMS_verify(cms, extra.get(), nullptr, content, out, flags) != 1) {
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    std::string detail = drain_openssl_errors();
    if (reason == CMS_R_VERIFICATION_FAILURE || reason == CMS_R_CONTENT_VERIFY_ERROR) {
      v.status = VerdictStatus::bad_signature;
      v.reason = "signature does not match the content";
    } else {
      v.status = VerdictStatus::malformed;
      v.reason = "signature cannot be checked: " + detail;
    }
    return v;
  }
  if (!v.signer) {
    // CMS_verify found the signer among extra_certs; look it up again.
    X509StackPtr signers(CMS_get0_signers(cms));
    if (signers && sk_X509_num(signers.get()) > 0) {
      X509* s = sk_X509_value(signers.get(), 0);
      v.signer = share(s);
      v.signer_emails = cert_emails(s);
      v.signer_fingerprint = cert_fingerprint_sha256(s);
    }
    // CMS_get0_signers returns a new stack of borrowed pointers.
    if (signers) sk_X509_free(signers.release());
  }
  if (!v.signer) {
    v.status = VerdictStatus::malformed;
    v.reason = "signer certificate not found";
    return v;
  }
  check_chain(cms, ctx, v);
  return v;
}

}  // namespace

std::string verdict_name(VerdictStatus s) {
  switch (s) {
    case VerdictStatus::valid:
      return "valid";
    case VerdictStatus::bad_signature:
      return "bad-signature";
    case VerdictStatus::untrusted:
      return "untrusted";
    case VerdictStatus::expired:
      return "expired";
    case VerdictStatus::revoked:
      return "revoked";
    case VerdictStatus::malformed:
      return "malformed";
  }
  return "malformed";
}

Verdict verify_detached(BIO* content, CMS_ContentInfo* signature, const VerifyContext& ctx) {
  if (!content) {
    Verdict v;
    v.reason = "no content";
    return v;
  }
  return verify_common(signature, content, nullptr, ctx);
}

Verdict verify_opaque(CMS_ContentInfo* signed_data, BIO* out, const VerifyContext& ctx,
                      BIO* detached_content) {
  if (!out) {
    Verdict v;
    v.reason = "no output";
    return v;
  }
  return verify_common(signed_data, detached_content, out, ctx);
}

}  // namespace mailseal::crypto::smime
