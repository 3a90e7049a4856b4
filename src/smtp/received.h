// The Received trace header mailseal prepends to every message it relays (RFC 5321 4.4).
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "core/envelope.h"

namespace mailseal::smtp {

// RFC 5322 3.3 date-time in UTC: "Wed, 25 Nov 2026 19:07:00 +0000".
std::string rfc5322_date(std::time_t when);

// "Received: from helo ([ip])\r\n\tby host (mailseal) with ESMTPS id ID\r\n\tfor <r>; date\r\n"
// `single_recipient` is named only when there is exactly one, so that a Received header
// never lists other (possibly Bcc) recipients.
std::string received_header(const core::ClientInfo& client, std::string_view hostname,
                            std::string_view protocol, std::string_view id,
                            std::string_view single_recipient, std::time_t when);

}  // namespace mailseal::smtp
