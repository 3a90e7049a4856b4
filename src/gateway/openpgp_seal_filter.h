// Outbound (inside listener) OpenPGP seal: RFC 3156 PGP/MIME. The canonical inner entity
// is signed with the From address's OpenPGP key and encrypted to every recipient of the
// copy in one OpenPGP message (multipart/encrypted); the sign-only fallback is
// multipart/signed with a detached application/pgp-signature. Copies, Bcc handling and
// policies as for S/MIME (SealOptions of smime_options.h: no_certificate applies to
// recipients without a usable OpenPGP key, no_secret_key to a sender without one).
#pragma once

#include <vector>

#include "core/message_filter.h"
#include "gateway/openpgp_keys.h"
#include "gateway/smime_options.h"

namespace mailseal::gateway {

class OpenpgpSealFilter : public core::MessageFilter {
 public:
  OpenpgpSealFilter(std::vector<keys::KeySource*> sources, SealOptions options)
      : keys_(std::move(sources)), options_(std::move(options)) {}

  std::optional<smtp::Reply> check_recipient(const core::Envelope& envelope,
                                             const std::string& recipient) override;
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

 private:
  OpenpgpKeys keys_;
  SealOptions options_;
};

}  // namespace mailseal::gateway
