// Names of verdict statuses (for logs and the trace header) and the signer address check.
#include "openpgp/verdict.h"

#include "openpgp/user_id.h"

namespace mailseal::openpgp {

std::string_view verdict_status_name(VerdictStatus status) {
  switch (status) {
    case VerdictStatus::valid:
      return "valid";
    case VerdictStatus::bad_signature:
      return "bad_signature";
    case VerdictStatus::unknown_signer:
      return "unknown_signer";
    case VerdictStatus::expired_key:
      return "expired_key";
    case VerdictStatus::revoked_key:
      return "revoked_key";
    case VerdictStatus::no_signature:
      return "no_signature";
    case VerdictStatus::decrypt_failed:
      return "decrypt_failed";
    case VerdictStatus::integrity_failure:
      return "integrity_failure";
    case VerdictStatus::malformed:
      return "malformed";
    case VerdictStatus::io_error:
      return "io_error";
  }
  return "malformed";
}

bool Verdict::signed_by(std::string_view address) const {
  for (const auto& e : signer_emails)
    if (same_address(e, address)) return true;
  return false;
}

}  // namespace mailseal::openpgp
