// The DNS lookups of direct delivery, over libunbound with DNSSEC validation:
// lookup_mx (RFC 5321 5.1, RFC 7505), lookup_addresses (A + AAAA), lookup_tlsa (RFC 7672),
// and for key discovery lookup_openpgpkey (RFC 7929) and lookup_smimea (RFC 8162).
// Calls block for at most the configured timeout each, even with a dead resolver, and are
// safe from any number of threads (run them on a thread pool, not on an I/O thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/config.h"
#include "dns/result.h"

namespace mailseal::dns {

class QueryEngine;

class Resolver {
 public:
  // Throws std::runtime_error when the configuration cannot be applied (unreadable trust
  // anchor, bad resolver address, no /etc/resolv.conf).
  explicit Resolver(const core::DnsConfig& config);
  ~Resolver();

  MxResult lookup_mx(std::string_view domain);
  AddressResult lookup_addresses(std::string_view host);
  // _<port>._tcp.<host> TLSA. Only a secure result may be used for DANE.
  TlsaResult lookup_tlsa(std::string_view host, std::uint16_t port = 25);
  // Keys published in DNS under an owner name (keys/dane_names.h builds it): OPENPGPKEY
  // (type 61, RFC 7929) and SMIMEA (type 53, RFC 8162). Only secure answers may be used.
  OpenpgpkeyResult lookup_openpgpkey(std::string_view owner);
  SmimeaResult lookup_smimea(std::string_view owner);
  // Both at once (asked in parallel: one timeout, not two, when the resolver is dead).
  std::pair<OpenpgpkeyResult, SmimeaResult> lookup_dane_keys(std::string_view openpgpkey_owner,
                                                             std::string_view smimea_owner);

  // The trust anchor file in use; empty when nothing is validated (then nothing is secure).
  const std::filesystem::path& trust_anchor() const { return trust_anchor_; }
  // "127.0.0.1@5353", or "/etc/resolv.conf".
  const std::string& upstream() const { return upstream_; }

 private:
  std::unique_ptr<QueryEngine> engine_;
  std::chrono::milliseconds timeout_;
  std::filesystem::path trust_anchor_;
  std::string upstream_;
};

// Where the root trust anchor is looked for when [dns] trust_anchor is empty
// (Debian's dns-root-data package).
inline constexpr const char* kDefaultTrustAnchor = "/usr/share/dns/root.key";

}  // namespace mailseal::dns
