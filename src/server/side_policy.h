// Who may talk to a listener and for which recipients (invariant 4, no open relay):
//   inside  - only clients in client_networks; any recipient (outbound mail);
//   outside - anyone; only recipients in internal_domains (inbound mail).
// After these rules the side's filter may refuse a recipient (e.g. no certificate).
#pragma once

#include "core/config.h"
#include "core/message_filter.h"
#include "smtp/session.h"

namespace mailseal::server {

enum class Side { inside, outside };

class SidePolicy : public smtp::SessionPolicy {
 public:
  SidePolicy(Side side, const core::ListenerConfig& config, const std::string& hostname,
             core::MessageFilter* filter)
      : side_(side), config_(config), hostname_(hostname), filter_(filter) {}

  std::optional<smtp::Reply> check_connect(const core::ClientInfo& client) override;
  std::optional<smtp::Reply> check_recipient(const core::ClientInfo& client,
                                             const core::Envelope& envelope,
                                             const std::string& recipient) override;
  bool is_internal_domain(std::string_view address) const;

 private:
  Side side_;
  const core::ListenerConfig& config_;
  const std::string& hostname_;
  core::MessageFilter* filter_;
};

}  // namespace mailseal::server
