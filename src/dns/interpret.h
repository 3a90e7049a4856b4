// The rules that turn DNS answers into a delivery route, kept pure (no resolver, no I/O)
// so each rule is a unit test: RFC 5321 section 5.1 (MX order, equal preferences in
// random order, implicit MX), RFC 7505 (null MX), and which failures are permanent.
#pragma once

#include <random>
#include <string_view>
#include <vector>

#include "dns/answer.h"
#include "dns/result.h"

namespace mailseal::dns {

// Sorted by preference; hosts of equal preference shuffled (spreads load as RFC 5321
// asks); a host listed twice keeps its lowest preference.
std::vector<MxHost> order_mx(std::vector<MxHost> hosts, std::mt19937& rng);

MxResult interpret_mx(std::string_view domain, const Answer& mx, std::mt19937& rng);
AddressResult interpret_addresses(std::string_view host, const Answer& a, const Answer& aaaa);
TlsaResult interpret_tlsa(const Answer& tlsa);
// Keys in the recipient's domain (RFC 7929, RFC 8162): NXDOMAIN is "no records" (the
// owner name is per address, so the name not existing means no key for it).
OpenpgpkeyResult interpret_openpgpkey(const Answer& a);
SmimeaResult interpret_smimea(const Answer& a);

// The part all three share: bogus, no answer, SERVFAIL and friends are temporary;
// NXDOMAIN is no_domain; NOERROR without records is no_records; else ok.
Outcome classify(const Answer& a, std::string_view what);

}  // namespace mailseal::dns
