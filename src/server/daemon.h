// The running gateway: I/O threads, the crypto pool, both listeners with their relays,
// and signal handling (SIGTERM/SIGINT: stop accepting, let transactions in flight finish
// up to shutdown_grace, then exit).
#pragma once

#include <memory>

#include "core/config.h"
#include "core/message_filter.h"

namespace mailseal::server {

struct Filters {
  core::MessageFilter* inside = nullptr;   // seal (outbound)
  core::MessageFilter* outside = nullptr;  // open (inbound)
};

// Runs until a termination signal; returns the process exit code. Errors that prevent
// start (port in use, unreadable certificate) are logged and give a non-zero code.
int run_daemon(const core::Config& config, Filters filters);

}  // namespace mailseal::server
