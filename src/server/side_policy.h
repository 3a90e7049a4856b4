// Who may talk to a listener and for which recipients (invariant 4, no open relay):
//   inside  - only clients in client_networks; any recipient (outbound mail);
//   outside - anyone; only recipients in internal_domains (inbound mail).
// After these rules the side's filter may refuse a recipient (e.g. no certificate).
#pragma once

#include "core/config.h"
#include "core/message_filter.h"
#include "server/password_file.h"
#include "smtp/session.h"

namespace mailseal::server {

enum class Side { inside, outside };

class SidePolicy : public smtp::SessionPolicy {
 public:
  SidePolicy(Side side, const core::ListenerConfig& config, const std::string& hostname,
             core::MessageFilter* filter, const PasswordFile* passwords = nullptr)
      : side_(side), config_(config), hostname_(hostname), filter_(filter), passwords_(passwords) {}

  // Inside: is the client in client_networks? (Outside: everyone is "trusted" to connect.)
  bool trusted_network(const core::ClientInfo& client) const;
  bool check_password(std::string_view user, std::string_view password) override {
    return passwords_ && passwords_->check(user, password);
  }

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
  const PasswordFile* passwords_;
};

}  // namespace mailseal::server
