// Typed results shared by the S/MIME (CMS) functions: a Status that starts as failure
// and becomes success only at the end, and the parsed-CMS handle with its kind.
// No policy here: callers map failures to SMTP replies.
#pragma once

#include <string>
#include <string_view>

#include "crypto/openssl_ptr.h"

namespace mailseal::crypto::smime {

enum class Failure {
  none,       // success
  malformed,  // input is not well-formed CMS / DER / PEM
  bad_input,  // caller error: no key, key does not match cert, unsupported key type
  wrong_key,  // none of the candidate keys is a recipient of the message
  integrity,  // ciphertext or key-transport damaged, GCM tag mismatch
  io,         // reading or writing a stream failed
  internal,   // an OpenSSL call failed unexpectedly (also the initial state)
};

struct Status {
  Failure failure = Failure::internal;
  std::string reason = "not run";

  bool ok() const { return failure == Failure::none; }
  static Status success() { return Status{Failure::none, ""}; }
  static Status fail(Failure f, std::string why) { return Status{f, std::move(why)}; }
};

std::string failure_name(Failure f);

// Drains the OpenSSL error queue of this thread into one line ("" when empty).
std::string drain_openssl_errors();

enum class CmsKind { unknown, signed_data, enveloped_data, auth_enveloped_data };
enum class Encoding { der, pem };

struct ParsedCms {
  Status status;
  CmsPtr cms;
  CmsKind kind = CmsKind::unknown;
};

// Reads one CMS ContentInfo (DER or PEM "-----BEGIN CMS-----"/PKCS7) from `in`.
// The whole structure is held in memory (OpenSSL has no streaming CMS parser); for
// large messages see parse_cms_detached (smime.h).
ParsedCms parse_cms(BIO* in, Encoding encoding = Encoding::der);

// parse_cms of DER in memory, the same result; for signed-data the certificates it
// carries are decoded once per process and reused (detached.cpp): OpenSSL 3's public-key
// decoding of every embedded certificate was most of the cost of opening a message.
ParsedCms parse_cms_der(std::string_view der);

}  // namespace mailseal::crypto::smime
