// Chooses the next-hop implementation from the configuration.
#include "delivery/next_hop.h"

#include "delivery/maildir.h"
#include "delivery/mx_next_hop.h"
#include "delivery/smtp_client.h"

namespace mailseal::delivery {

DeliveryResult all_recipients(const DeliveryRequest& request, const smtp::Reply& reply) {
  DeliveryResult result;
  for (const auto& r : request.recipients) result.recipients.push_back({r, reply});
  result.summary = reply.brief();
  return result;
}

std::unique_ptr<NextHop> make_next_hop(const core::NextHopConfig& config, std::string hostname,
                                       const core::DnsConfig& dns) {
  if (config.kind == core::NextHopKind::maildir)
    return std::make_unique<MaildirNextHop>(config.path, std::move(hostname));
  if (config.kind == core::NextHopKind::mx)
    return std::make_unique<MxNextHop>(config, std::move(hostname), dns);
  return std::make_unique<SmtpNextHop>(config, std::move(hostname));
}

}  // namespace mailseal::delivery
