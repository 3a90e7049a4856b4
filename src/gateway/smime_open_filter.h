// Inbound (outside listener) S/MIME open: strip our trace headers, unwrap whole-body
// S/MIME layers (decrypt with any internal recipient's key, verify signatures), decide
// before the DATA reply, and deliver the plain entity under the outer headers + trace.
#pragma once

#include <vector>

#include "core/message_filter.h"
#include "gateway/key_lookup.h"
#include "gateway/smime_options.h"

namespace mailseal::gateway {

class SmimeOpenFilter : public core::MessageFilter {
 public:
  SmimeOpenFilter(std::vector<keys::KeySource*> sources, OpenOptions options)
      : keys_(std::move(sources)), options_(std::move(options)) {}

  std::optional<smtp::Reply> check_recipient(const core::Envelope&, const std::string&) override {
    return std::nullopt;
  }
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

 private:
  KeyLookup keys_;
  OpenOptions options_;
};

}  // namespace mailseal::gateway
