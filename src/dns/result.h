// What the DNS lookups of direct delivery return: a status that tells the caller whether
// to go on, give up (permanent) or try later (temporary), whether DNSSEC validated the
// answer, and a reason a human can read in a log line or a bounce. No SMTP here: the
// delivery code maps statuses onto reply codes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tlsa.h"

namespace mailseal::dns {

enum class Status {
  ok,          // records found (for MX: a route, possibly the implicit MX)
  no_records,  // the name exists but has no records of the type (NODATA)
  no_domain,   // NXDOMAIN, or not a valid domain name: permanent
  null_mx,     // RFC 7505 null MX: the domain accepts no mail: permanent
  temporary,   // SERVFAIL, timeout, DNSSEC bogus, resolver trouble: try again later
};

const char* to_string(Status s);

// Fields every result has.
struct Outcome {
  Status status = Status::temporary;
  bool secure = false;  // DNSSEC validated (also a validated denial for no_records/no_domain)
  bool bogus = false;   // DNSSEC validation failed; status is then temporary
  std::string reason;   // for humans: logs, bounces, `mailseal route`
};

struct MxHost {
  std::string name;  // without trailing dot, e.g. "mx1.example.org"
  std::uint16_t preference = 0;
  bool implicit = false;  // no MX records: the domain itself (RFC 5321 section 5.1)
};

struct MxResult : Outcome {
  std::vector<MxHost> hosts;  // in the order to try them (ok only)
};

struct AddressResult : Outcome {
  std::vector<std::string> addresses;  // textual; IPv4 first, then IPv6
};

struct TlsaResult : Outcome {
  std::string name;  // the name queried, e.g. "_25._tcp.mx1.example.org"
  std::vector<core::TlsaRecord> records;
};

// OPENPGPKEY (RFC 7929): each record's RDATA is one transferable public key, as bytes.
struct OpenpgpkeyResult : Outcome {
  std::string name;
  std::vector<std::string> keys;
};

// SMIMEA (RFC 8162): the RDATA has the TLSA format (RFC 8162 2), so the same struct.
struct SmimeaResult : Outcome {
  std::string name;
  std::vector<core::TlsaRecord> records;
};

}  // namespace mailseal::dns
