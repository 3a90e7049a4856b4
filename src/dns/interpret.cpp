// Interpretation of answers: status, DNSSEC state and the reason text.
#include "dns/interpret.h"

#include <algorithm>
#include <map>

#include "dns/rdata.h"

namespace mailseal::dns {

const char* to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::no_records:
      return "no records";
    case Status::no_domain:
      return "no such domain";
    case Status::null_mx:
      return "null MX";
    case Status::temporary:
      return "temporary failure";
  }
  return "?";
}

Outcome classify(const Answer& a, std::string_view what) {
  Outcome o;
  o.secure = a.secure;
  std::string subject = std::string(what);
  if (!a.failure.empty()) {
    o.status = Status::temporary;
    o.reason = subject + ": " + a.failure;
  } else if (a.bogus) {
    // A failed signature is an attack or a broken zone; either way not the domain's final
    // word, so retry rather than bounce (RFC 7672 section 2.1.1 treats it alike).
    o.status = Status::temporary;
    o.bogus = true;
    o.secure = false;
    o.reason = subject + ": DNSSEC validation failed (bogus)";
    if (!a.why_bogus.empty()) o.reason += ": " + a.why_bogus;
  } else if (a.rcode == 3 || a.nxdomain) {
    o.status = Status::no_domain;
    o.reason = std::string(a.name) + ": no such domain (NXDOMAIN)";
  } else if (a.rcode != 0) {
    o.status = Status::temporary;
    o.reason = subject + ": DNS error (" +
               (a.rcode == 2 ? std::string("SERVFAIL") : "RCODE " + std::to_string(a.rcode)) + ")";
  } else if (!a.havedata) {
    o.status = Status::no_records;
    o.reason = subject + ": no records";
  } else {
    o.status = Status::ok;
  }
  return o;
}

std::vector<MxHost> order_mx(std::vector<MxHost> hosts, std::mt19937& rng) {
  std::map<std::string, std::uint16_t> lowest;
  for (const auto& h : hosts) {
    auto [it, fresh] = lowest.emplace(h.name, h.preference);
    if (!fresh) it->second = std::min(it->second, h.preference);
  }
  std::vector<MxHost> unique;
  for (auto& h : hosts) {
    auto it = lowest.find(h.name);
    if (it == lowest.end() || it->second != h.preference) continue;
    lowest.erase(it);
    unique.push_back(std::move(h));
  }
  // Shuffle first, then a stable sort by preference: each group keeps the random order.
  std::shuffle(unique.begin(), unique.end(), rng);
  std::stable_sort(unique.begin(), unique.end(),
                   [](const MxHost& x, const MxHost& y) { return x.preference < y.preference; });
  return unique;
}

MxResult interpret_mx(std::string_view domain, const Answer& mx, std::mt19937& rng) {
  MxResult r;
  static_cast<Outcome&>(r) = classify(mx, std::string(domain) + " MX");
  if (r.status == Status::no_records) {
    // RFC 5321 5.1: no MX records, so the domain itself is the implicit MX.
    r.status = Status::ok;
    r.hosts.push_back({std::string(domain), 0, true});
    r.reason = std::string(domain) + ": no MX records, implicit MX (the domain itself)";
    return r;
  }
  if (r.status != Status::ok) return r;
  std::vector<MxHost> hosts;
  std::size_t null_mx = 0, malformed = 0;
  for (const auto& rd : mx.rdata) {
    auto rec = decode_mx(rd);
    if (!rec)
      ++malformed;
    else if (rec->exchange == ".")
      ++null_mx;
    else
      hosts.push_back({rec->exchange, rec->preference, false});
  }
  if (hosts.empty() && null_mx > 0) {
    // RFC 7505: MX 0 "." says the domain accepts no mail. A "." with another preference
    // is not a usable host either, so a list of nothing but "." means the same.
    r.status = Status::null_mx;
    r.reason = std::string(domain) + ": null MX (RFC 7505): the domain accepts no mail";
    return r;
  }
  if (hosts.empty()) {
    r.status = Status::temporary;
    r.reason = std::string(domain) + " MX: " + std::to_string(malformed) + " malformed record(s)";
    return r;
  }
  // A null MX next to real hosts breaks RFC 7505 section 3; the real hosts are used.
  r.hosts = order_mx(std::move(hosts), rng);
  r.reason = std::string(domain) + ": " + std::to_string(r.hosts.size()) + " MX host(s)";
  if (null_mx > 0) r.reason += " (a null MX among them was ignored)";
  return r;
}

AddressResult interpret_addresses(std::string_view host, const Answer& a, const Answer& aaaa) {
  AddressResult r;
  Outcome o4 = classify(a, std::string(host) + " A");
  Outcome o6 = classify(aaaa, std::string(host) + " AAAA");
  for (const auto& rd : a.rdata)
    if (auto ip = decode_a(rd)) r.addresses.push_back(*ip);
  for (const auto& rd : aaaa.rdata)
    if (auto ip = decode_aaaa(rd)) r.addresses.push_back(*ip);
  if (o4.bogus || o6.bogus) {
    // Never use an address from a host whose other family failed validation: the
    // bogus answer shows the zone is under attack or broken.
    const Outcome& bad = o4.bogus ? o4 : o6;
    static_cast<Outcome&>(r) = bad;
    r.addresses.clear();
    return r;
  }
  if (o4.status == Status::ok || o6.status == Status::ok) {
    r.status = r.addresses.empty() ? Status::temporary : Status::ok;
    // Secure only if every family that gave addresses was validated.
    r.secure = (o4.status != Status::ok || o4.secure) && (o6.status != Status::ok || o6.secure);
    r.reason = std::string(host) + ": " + std::to_string(r.addresses.size()) + " address(es)";
    for (const Outcome* o : {&o4, &o6})
      if (o->status == Status::temporary) r.reason += "; " + o->reason;
    if (r.addresses.empty()) r.reason = std::string(host) + ": malformed address records";
    return r;
  }
  if (o4.status == Status::temporary || o6.status == Status::temporary) {
    static_cast<Outcome&>(r) = o4.status == Status::temporary ? o4 : o6;
    return r;
  }
  r.secure = o4.secure && o6.secure;
  if (o4.status == Status::no_domain && o6.status == Status::no_domain) {
    r.status = Status::no_domain;
    r.reason = o4.reason;
  } else {
    r.status = Status::no_records;
    r.reason = std::string(host) + ": no A or AAAA records";
  }
  return r;
}

TlsaResult interpret_tlsa(const Answer& tlsa) {
  TlsaResult r;
  r.name = tlsa.name;
  static_cast<Outcome&>(r) = classify(tlsa, tlsa.name + " TLSA");
  if (r.status == Status::no_domain) {
    r.status = Status::no_records;  // no TLSA for that port: the same thing for DANE
    r.reason = tlsa.name + ": no TLSA records (NXDOMAIN)";
  }
  if (r.status != Status::ok) return r;
  for (const auto& rd : tlsa.rdata)
    if (auto rec = decode_tlsa(rd)) r.records.push_back(std::move(*rec));
  if (r.records.empty()) {
    // Too short to parse: "unusable" records. RFC 7672 2.2 still counts the RRset (TLS
    // becomes mandatory, unauthenticated), so the status stays ok with no records.
    r.reason = tlsa.name + ": " + std::to_string(tlsa.rdata.size()) + " malformed TLSA record(s)";
    return r;
  }
  r.reason = tlsa.name + ": " + std::to_string(r.records.size()) + " TLSA record(s)";
  return r;
}

namespace {

template <class R>
void classify_key_records(const Answer& a, const char* type, R& r) {
  r.name = a.name;
  static_cast<Outcome&>(r) = classify(a, a.name + " " + type);
  if (r.status == Status::no_domain) {
    r.status = Status::no_records;
    r.reason = a.name + ": no " + type + " records (NXDOMAIN)";
  }
}

}  // namespace

OpenpgpkeyResult interpret_openpgpkey(const Answer& a) {
  OpenpgpkeyResult r;
  classify_key_records(a, "OPENPGPKEY", r);
  if (r.status != Status::ok) return r;
  for (const auto& rd : a.rdata)
    if (!rd.empty()) r.keys.push_back(rd);
  r.reason = a.name + ": " + std::to_string(r.keys.size()) + " OPENPGPKEY record(s)";
  return r;
}

SmimeaResult interpret_smimea(const Answer& a) {
  SmimeaResult r;
  classify_key_records(a, "SMIMEA", r);
  if (r.status != Status::ok) return r;
  std::size_t malformed = 0;
  for (const auto& rd : a.rdata) {
    if (auto rec = decode_tlsa(rd))
      r.records.push_back(std::move(*rec));
    else
      ++malformed;
  }
  r.reason = a.name + ": " + std::to_string(r.records.size()) + " SMIMEA record(s)";
  if (malformed) r.reason += ", " + std::to_string(malformed) + " malformed";
  return r;
}

}  // namespace mailseal::dns
