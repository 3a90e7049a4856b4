// Final delivery into Maildir folders (readable by Dovecot, mutt): write to tmp/, fsync,
// rename into new/, fsync the directory. "%r" in the configured path becomes the
// recipient address, so one configuration serves many mailboxes.
#pragma once

#include <atomic>

#include "delivery/next_hop.h"

namespace mailseal::delivery {

class MaildirNextHop : public NextHop {
 public:
  MaildirNextHop(std::filesystem::path path_template, std::string hostname);
  net::awaitable<DeliveryResult> deliver(const DeliveryRequest& request) override;
  std::string describe() const override { return "maildir " + template_.string(); }

  // The folder for a recipient: "%r" replaced by the address with '/' and leading dots
  // made harmless, so a recipient can never name a path outside the template.
  std::filesystem::path folder_for(const std::string& recipient) const;

 private:
  smtp::Reply write_one(const std::filesystem::path& folder, const DeliveryRequest& request);

  std::filesystem::path template_;
  std::string hostname_;
  std::atomic<unsigned long> counter_{0};
};

}  // namespace mailseal::delivery
