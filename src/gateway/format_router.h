// Outbound format choice (issue 4): per recipient the first format of the configured
// order ([seal] formats, e.g. smime then openpgp) for which the recipient has a usable
// key (an S/MIME certificate, an OpenPGP key) decides which seal filter makes its copy.
// A message to recipients of both kinds becomes one copy per format (each filter keeps
// the Bcc rule). Recipients with no key of any format go to the first format for which
// the sender has a signing key (else the first format), whose no_certificate policy
// (refuse / sign-only / plain) then applies; with `refuse` they are already refused at
// RCPT time here (550 5.7.1).
#pragma once

#include <memory>
#include <vector>

#include "core/message_filter.h"
#include "gateway/key_lookup.h"
#include "gateway/openpgp_keys.h"
#include "gateway/smime_options.h"

namespace mailseal::gateway {

enum class SealFormat { smime, openpgp };

class FormatRouter : public core::MessageFilter {
 public:
  // `filters[i]` seals for `formats[i]`; `no_certificate` is the shared fallback policy.
  FormatRouter(std::vector<keys::KeySource*> sources, std::vector<SealFormat> formats,
               std::vector<std::unique_ptr<core::MessageFilter>> filters,
               RecipientFallback no_certificate);

  std::optional<smtp::Reply> check_recipient(const core::Envelope& envelope,
                                             const std::string& recipient) override;
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

  // Index into the format list for a recipient; -1 = no key of any format.
  int route(const std::string& recipient, std::optional<keys::SourceError>& error);

 private:
  bool has_key(SealFormat f, const std::string& address, std::optional<keys::SourceError>& error);
  bool has_signing_key(SealFormat f, const std::string& address,
                       std::optional<keys::SourceError>& error);

  KeyLookup smime_keys_;
  OpenpgpKeys openpgp_keys_;
  std::vector<SealFormat> formats_;
  std::vector<std::unique_ptr<core::MessageFilter>> filters_;
  RecipientFallback no_certificate_;
};

}  // namespace mailseal::gateway
