// Outbound (inside listener) S/MIME seal: sign with the From address's key (SHA-256),
// then encrypt to each recipient's certificate; one copy per treatment, each Bcc
// recipient its own copy (RFC 8551 3.1 outer headers kept, Bcc removed).
#pragma once

#include <vector>

#include "core/message_filter.h"
#include "gateway/key_lookup.h"
#include "gateway/smime_options.h"

namespace mailseal::gateway {

class SmimeSealFilter : public core::MessageFilter {
 public:
  SmimeSealFilter(std::vector<keys::KeySource*> sources, SealOptions options)
      : keys_(std::move(sources)), options_(std::move(options)) {}

  std::optional<smtp::Reply> check_recipient(const core::Envelope& envelope,
                                             const std::string& recipient) override;
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

 private:
  KeyLookup keys_;
  SealOptions options_;
};

}  // namespace mailseal::gateway
