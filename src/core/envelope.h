// The SMTP envelope of one transaction: who sent it, to whom, with which parameters.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mailseal::core {

struct Envelope {
  std::string sender;                   // reverse-path without <>; empty = null sender
  std::vector<std::string> recipients;  // forward-paths without <>
  bool smtputf8 = false;                // MAIL ... SMTPUTF8
  bool body_8bit = false;               // MAIL ... BODY=8BITMIME
  std::size_t declared_size = 0;        // MAIL ... SIZE=n (0 = not given)
};

// Where the message came from, for trace headers, logs and policy.
struct ClientInfo {
  std::string address;  // "192.0.2.1" or "2001:db8::1"
  unsigned short port = 0;
  std::string helo;  // as given in EHLO/HELO
  bool tls = false;
  std::string tls_version;  // "TLSv1.3" when tls
  std::string auth_user;    // SMTP AUTH identity (RFC 4954), empty if not authenticated
};

}  // namespace mailseal::core
