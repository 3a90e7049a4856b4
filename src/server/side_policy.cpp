// SidePolicy: connection and recipient rules per listener.
#include "server/side_policy.h"

#include "util/strings.h"

namespace mailseal::server {

bool SidePolicy::trusted_network(const core::ClientInfo& client) const {
  if (side_ != Side::inside) return true;
  auto ip = core::parse_ip(client.address);
  if (ip)
    for (const auto& n : config_.client_networks)
      if (n.contains(*ip)) return true;
  return false;
}

std::optional<smtp::Reply> SidePolicy::check_connect(const core::ClientInfo& client) {
  // With SMTP AUTH configured, others may connect but must authenticate before MAIL.
  if (trusted_network(client) || passwords_) return std::nullopt;
  return smtp::make_reply(
      554, "5.7.1", hostname_ + " Access denied: this listener serves only the inside mail server");
}

bool SidePolicy::is_internal_domain(std::string_view address) const {
  std::string domain = util::to_lower(smtp::domain_of(address));
  for (const auto& d : config_.internal_domains)
    if (domain == d) return true;
  return false;
}

std::optional<smtp::Reply> SidePolicy::check_recipient(const core::ClientInfo& client,
                                                       const core::Envelope& envelope,
                                                       const std::string& recipient) {
  if (side_ == Side::outside) {
    // RFC 5321 4.5.1: postmaster (no domain) is always accepted and is internal.
    const bool postmaster = smtp::domain_of(recipient).empty();
    if (!postmaster && !is_internal_domain(recipient))
      return smtp::make_reply(550, "5.7.1",
                              "Relaying denied: recipient is not in an internal domain");
  } else if (smtp::domain_of(recipient).empty()) {
    return smtp::make_reply(550, "5.1.3", "Recipient address needs a domain");
  }
  (void)client;
  if (filter_) return filter_->check_recipient(envelope, recipient);
  return std::nullopt;
}

}  // namespace mailseal::server
