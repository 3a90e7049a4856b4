// FormatRouter: recipients -> format by key availability, then each format's filter on
// its share of the envelope; copies concatenated, any refusal refuses the message.
#include "gateway/format_router.h"

#include <strings.h>

#include "gateway/body_io.h"
#include "mime/address.h"
#include "mime/entity.h"

namespace mailseal::gateway {

FormatRouter::FormatRouter(std::vector<keys::KeySource*> sources, std::vector<SealFormat> formats,
                           std::vector<std::unique_ptr<core::MessageFilter>> filters,
                           RecipientFallback no_certificate)
    : smime_keys_(sources),
      openpgp_keys_(sources),
      formats_(std::move(formats)),
      filters_(std::move(filters)),
      no_certificate_(no_certificate) {}

bool FormatRouter::has_key(SealFormat f, const std::string& address,
                           std::optional<keys::SourceError>& error) {
  if (f == SealFormat::smime) return smime_keys_.certificate(address, error).has_value();
  return openpgp_keys_.encryption_key(address, error).has_value();
}

bool FormatRouter::has_signing_key(SealFormat f, const std::string& address,
                                   std::optional<keys::SourceError>& error) {
  if (f == SealFormat::smime) return !smime_keys_.secret_keys(address, error).empty();
  auto ring = OpenpgpKeys::new_keyring();
  if (!ring || !openpgp_keys_.load_secret(*ring, address, error)) return false;
  return ring->key_for_address(address, openpgp::Usage::sign).ok();
}

int FormatRouter::route(const std::string& recipient, std::optional<keys::SourceError>& error) {
  // A failed discovery source (WKD, DANE) defers the recipient only when no format has a
  // key for it (KeySource::discovery()); any other source's failure stops here.
  std::optional<keys::SourceError> deferred;
  for (std::size_t i = 0; i < formats_.size(); ++i) {
    std::optional<keys::SourceError> e;
    if (has_key(formats_[i], recipient, e)) return static_cast<int>(i);
    if (e && !e->discovery) {
      error = std::move(e);
      return -1;
    }
    if (e && !deferred) deferred = std::move(e);
  }
  if (deferred) error = std::move(deferred);
  return -1;
}

std::optional<smtp::Reply> FormatRouter::check_recipient(const core::Envelope&,
                                                         const std::string& recipient) {
  std::optional<keys::SourceError> err;
  int i = route(recipient, err);
  if (err) return smtp::make_reply(451, "4.7.0", "key source " + err->source + " unavailable");
  if (i >= 0 || no_certificate_ != RecipientFallback::refuse) return std::nullopt;
  return smtp::make_reply(550, "5.7.1", "no S/MIME certificate or OpenPGP key for " + recipient);
}

core::FilterResult FormatRouter::process(const core::Envelope& envelope,
                                         const core::ClientInfo& client,
                                         const core::MessageBody& body,
                                         core::CopyListener* listener) {
  auto failure = [](int code, const char* enh, const std::string& text) {
    core::FilterResult r;
    r.refusal = smtp::make_reply(code, enh, text);
    r.summary = "seal refused: " + text;
    return r;
  };
  std::optional<keys::SourceError> err;
  std::vector<core::Envelope> shares(formats_.size(), envelope);
  for (auto& s : shares) s.recipients.clear();
  std::vector<std::string> keyless;
  for (const auto& rcpt : envelope.recipients) {
    int i = route(rcpt, err);
    if (err) return failure(451, "4.7.0", "key source " + err->source + " unavailable");
    if (i >= 0)
      shares[static_cast<std::size_t>(i)].recipients.push_back(rcpt);
    else
      keyless.push_back(rcpt);
  }
  if (!keyless.empty()) {
    if (no_certificate_ == RecipientFallback::refuse)
      return failure(550, "5.7.1", "no S/MIME certificate or OpenPGP key for " + keyless.front());
    // Sign-only / plain: the format the sender can sign in first (the From address).
    std::size_t chosen = 0;
    mime::Entity msg = mime::parse_header_block(source_of(body));
    std::string from_value;
    for (const auto& h : msg.headers)
      if (strcasecmp(h.name.c_str(), "From") == 0) from_value = h.value;
    auto from = mime::header_addresses(from_value);
    if (from.size() == 1) {
      for (std::size_t i = 0; i < formats_.size(); ++i) {
        if (has_signing_key(formats_[i], keys::normalise_address(from[0]), err)) {
          chosen = i;
          break;
        }
        if (err) return failure(451, "4.7.0", "key source " + err->source + " unavailable");
      }
    }
    for (auto& r : keyless) shares[chosen].recipients.push_back(r);
  }
  core::FilterResult result;
  for (std::size_t i = 0; i < formats_.size(); ++i) {
    if (shares[i].recipients.empty()) continue;
    core::FilterResult part = filters_[i]->process(shares[i], client, body, listener);
    if (part.refusal) return part;
    for (auto& c : part.copies) result.copies.push_back(std::move(c));
    result.summary += (result.summary.empty() ? "" : "; ") + part.summary;
  }
  return result;
}

}  // namespace mailseal::gateway
