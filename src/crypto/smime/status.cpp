// Status helpers and CMS parsing for the S/MIME functions.
// pem.h must come before cms.h for PEM_read_bio_CMS to be declared.
#include <openssl/pem.h>
// clang-format off
#include "crypto/smime/status.h"
// clang-format on

#include <openssl/err.h>
#include <openssl/objects.h>

namespace mailseal::crypto::smime {

std::string failure_name(Failure f) {
  switch (f) {
    case Failure::none:
      return "ok";
    case Failure::malformed:
      return "malformed";
    case Failure::bad_input:
      return "bad-input";
    case Failure::wrong_key:
      return "wrong-key";
    case Failure::integrity:
      return "integrity";
    case Failure::io:
      return "io";
    case Failure::internal:
      return "internal";
  }
  return "internal";
}

std::string drain_openssl_errors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

ParsedCms parse_cms(BIO* in, Encoding encoding) {
  ParsedCms out;
  ERR_clear_error();
  if (in == nullptr) {
    out.status = Status::fail(Failure::bad_input, "no input");
    return out;
  }
  CmsPtr cms(encoding == Encoding::der ? d2i_CMS_bio(in, nullptr)
                                       : PEM_read_bio_CMS(in, nullptr, nullptr, nullptr));
  if (!cms) {
    out.status = Status::fail(Failure::malformed, "not a CMS structure: " + drain_openssl_errors());
    return out;
  }
  switch (OBJ_obj2nid(CMS_get0_type(cms.get()))) {
    case NID_pkcs7_signed:
      out.kind = CmsKind::signed_data;
      break;
    case NID_pkcs7_enveloped:
      out.kind = CmsKind::enveloped_data;
      break;
    case NID_id_smime_ct_authEnvelopedData:
      out.kind = CmsKind::auth_enveloped_data;
      break;
    default:
      out.status = Status::fail(Failure::malformed, "unsupported CMS content type");
      return out;
  }
  out.cms = std::move(cms);
  out.status = Status::success();
  return out;
}

}  // namespace mailseal::crypto::smime
