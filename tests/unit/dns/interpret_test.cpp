// The pure DNS rules: MX order (RFC 5321 5.1), implicit MX, null MX (RFC 7505), and the
// status/DNSSEC mapping of answers (NXDOMAIN, SERVFAIL, timeout, bogus).
#include "dns/interpret.h"

#include <gtest/gtest.h>

#include <set>

namespace mailseal::dns {
namespace {

std::string wire_name(const std::string& dotted) {
  std::string out;
  std::size_t start = 0;
  while (start < dotted.size()) {
    auto dot = dotted.find('.', start);
    if (dot == std::string::npos) dot = dotted.size();
    out += static_cast<char>(dot - start);
    out += dotted.substr(start, dot - start);
    start = dot + 1;
  }
  return out + '\0';
}

std::string mx_rdata(std::uint16_t pref, const std::string& host) {
  std::string r;
  r += static_cast<char>(pref >> 8);
  r += static_cast<char>(pref & 0xff);
  return r + (host == "." ? std::string(1, '\0') : wire_name(host));
}

Answer mx_answer(std::vector<std::pair<std::uint16_t, std::string>> records) {
  Answer a;
  a.name = "example.org";
  a.havedata = !records.empty();
  for (auto& [p, h] : records) a.rdata.push_back(mx_rdata(p, h));
  return a;
}

std::vector<std::string> names(const MxResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hosts) out.push_back(h.name);
  return out;
}

TEST(Mx, SortedByPreference) {
  std::mt19937 rng(1);
  auto r = interpret_mx(
      "example.org",
      mx_answer({{30, "c.example.org"}, {10, "a.example.org"}, {20, "b.example.org"}}), rng);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(names(r),
            (std::vector<std::string>{"a.example.org", "b.example.org", "c.example.org"}));
  EXPECT_EQ(r.hosts[0].preference, 10);
  EXPECT_FALSE(r.hosts[0].implicit);
}

TEST(Mx, EqualPreferencesAreShuffledButStayInTheirGroup) {
  std::set<std::string> firsts;
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(seed);
    auto r = interpret_mx(
        "example.org", mx_answer({{10, "a1"}, {10, "a2"}, {10, "a3"}, {5, "first"}, {20, "last"}}),
        rng);
    ASSERT_EQ(r.hosts.size(), 5u);
    EXPECT_EQ(r.hosts.front().name, "first");
    EXPECT_EQ(r.hosts.back().name, "last");
    firsts.insert(r.hosts[1].name);
  }
  // Each of the three equal hosts comes first in the group for some seed.
  EXPECT_EQ(firsts, (std::set<std::string>{"a1", "a2", "a3"}));
}

TEST(Mx, DuplicateHostKeepsLowestPreference) {
  std::mt19937 rng(3);
  auto r = interpret_mx("example.org", mx_answer({{50, "mx"}, {10, "mx"}, {20, "other"}}), rng);
  EXPECT_EQ(names(r), (std::vector<std::string>{"mx", "other"}));
  EXPECT_EQ(r.hosts[0].preference, 10);
}

TEST(Mx, NoRecordsMeansImplicitMx) {
  std::mt19937 rng(1);
  Answer a = mx_answer({});
  a.secure = true;
  auto r = interpret_mx("example.org", a, rng);
  ASSERT_EQ(r.status, Status::ok);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].name, "example.org");
  EXPECT_EQ(r.hosts[0].preference, 0);
  EXPECT_TRUE(r.hosts[0].implicit);
  EXPECT_TRUE(r.secure);  // a validated NODATA makes the implicit MX secure
}

TEST(Mx, NullMx) {
  std::mt19937 rng(1);
  auto r = interpret_mx("example.org", mx_answer({{0, "."}}), rng);
  EXPECT_EQ(r.status, Status::null_mx);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_NE(r.reason.find("null MX"), std::string::npos);
}

TEST(Mx, NullMxNextToRealHostsIsIgnored) {
  std::mt19937 rng(1);
  auto r = interpret_mx("example.org", mx_answer({{0, "."}, {10, "mx.example.org"}}), rng);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(names(r), std::vector<std::string>{"mx.example.org"});
}

TEST(Mx, NxdomainIsPermanent) {
  std::mt19937 rng(1);
  Answer a;
  a.name = "nowhere.example";
  a.rcode = 3;
  a.nxdomain = true;
  auto r = interpret_mx("nowhere.example", a, rng);
  EXPECT_EQ(r.status, Status::no_domain);
  EXPECT_NE(r.reason.find("NXDOMAIN"), std::string::npos);
}

TEST(Mx, ServfailTimeoutAndBogusAreTemporary) {
  std::mt19937 rng(1);
  Answer servfail;
  servfail.rcode = 2;
  auto r = interpret_mx("example.org", servfail, rng);
  EXPECT_EQ(r.status, Status::temporary);
  EXPECT_NE(r.reason.find("SERVFAIL"), std::string::npos);

  Answer timeout;
  timeout.failure = "no answer within 10s";
  r = interpret_mx("example.org", timeout, rng);
  EXPECT_EQ(r.status, Status::temporary);
  EXPECT_NE(r.reason.find("no answer within 10s"), std::string::npos);

  // libunbound reports a bogus answer as SERVFAIL with bogus set; even with data the
  // records must not be used.
  Answer bogus = mx_answer({{10, "mx.example.org"}});
  bogus.rcode = 2;
  bogus.bogus = true;
  bogus.why_bogus = "signature crypto failed";
  r = interpret_mx("example.org", bogus, rng);
  EXPECT_EQ(r.status, Status::temporary);
  EXPECT_TRUE(r.bogus);
  EXPECT_FALSE(r.secure);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_NE(r.reason.find("bogus"), std::string::npos);
  EXPECT_NE(r.reason.find("signature crypto failed"), std::string::npos);
}

TEST(Mx, MalformedRecordsAloneAreTemporary) {
  std::mt19937 rng(1);
  Answer a;
  a.havedata = true;
  a.rdata = {std::string("\x00\x0a\xc0\x0c", 4)};  // a compression pointer
  EXPECT_EQ(interpret_mx("example.org", a, rng).status, Status::temporary);
}

Answer addr_answer(std::vector<std::string> rdata, bool secure) {
  Answer a;
  a.name = "mx.example.org";
  a.havedata = !rdata.empty();
  a.rdata = std::move(rdata);
  a.secure = secure;
  return a;
}

TEST(Addresses, BothFamiliesIpv4First) {
  auto r =
      interpret_addresses("mx.example.org", addr_answer({std::string("\x7f\0\0\x01", 4)}, true),
                          addr_answer({std::string(15, '\0') + '\x01'}, true));
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_TRUE(r.secure);
}

TEST(Addresses, InsecureFamilyMakesResultInsecure) {
  auto r =
      interpret_addresses("mx.example.org", addr_answer({std::string("\x7f\0\0\x01", 4)}, true),
                          addr_answer({std::string(15, '\0') + '\x01'}, false));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_FALSE(r.secure);
}

TEST(Addresses, OneFamilyTimedOutStillUsesTheOther) {
  Answer aaaa;
  aaaa.failure = "no answer within 2s";
  auto r = interpret_addresses("mx.example.org",
                               addr_answer({std::string("\x7f\0\0\x02", 4)}, false), aaaa);
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.addresses, std::vector<std::string>{"127.0.0.2"});
}

TEST(Addresses, BogusFamilyDiscardsEverything) {
  Answer aaaa = addr_answer({}, false);
  aaaa.bogus = true;
  aaaa.rcode = 2;
  auto r = interpret_addresses("mx.example.org",
                               addr_answer({std::string("\x7f\0\0\x01", 4)}, true), aaaa);
  EXPECT_EQ(r.status, Status::temporary);
  EXPECT_TRUE(r.bogus);
  EXPECT_TRUE(r.addresses.empty());
}

TEST(Addresses, NodataAndNxdomain) {
  auto r = interpret_addresses("mx.example.org", addr_answer({}, true), addr_answer({}, true));
  EXPECT_EQ(r.status, Status::no_records);
  EXPECT_TRUE(r.secure);
  Answer nx;
  nx.name = "mx.example.org";
  nx.rcode = 3;
  nx.nxdomain = true;
  EXPECT_EQ(interpret_addresses("mx.example.org", nx, nx).status, Status::no_domain);
}

TEST(Tlsa, RecordsAndSecureFlag) {
  Answer a;
  a.name = "_25._tcp.mx.example.org";
  a.havedata = true;
  a.secure = true;
  a.rdata = {std::string("\x03\x01\x01\xab\xcd", 5)};
  auto r = interpret_tlsa(a);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_TRUE(r.secure);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(core::to_string(r.records[0]), "3 1 1 abcd");
  EXPECT_EQ(r.name, "_25._tcp.mx.example.org");
}

TEST(Tlsa, NxdomainIsJustNoRecords) {
  Answer a;
  a.name = "_25._tcp.mx.example.org";
  a.rcode = 3;
  a.nxdomain = true;
  a.secure = true;
  auto r = interpret_tlsa(a);
  EXPECT_EQ(r.status, Status::no_records);
  EXPECT_TRUE(r.secure);
}

TEST(Tlsa, ServfailIsTemporary) {
  Answer a;
  a.rcode = 2;
  EXPECT_EQ(interpret_tlsa(a).status, Status::temporary);
}

}  // namespace
}  // namespace mailseal::dns

namespace mailseal::dns {
namespace {

Answer key_answer(std::vector<std::string> rdata, bool secure) {
  Answer a;
  a.name = "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com";
  a.havedata = !rdata.empty();
  a.secure = secure;
  a.rdata = std::move(rdata);
  return a;
}

TEST(InterpretKeys, OpenpgpkeyRecordsAndTheirDnssecState) {
  auto r = interpret_openpgpkey(key_answer({"KEY1", "KEY2"}, true));
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_TRUE(r.secure);
  EXPECT_EQ(r.keys, (std::vector<std::string>{"KEY1", "KEY2"}));
  EXPECT_FALSE(interpret_openpgpkey(key_answer({"KEY1"}, false)).secure);
  Answer nx = key_answer({}, true);
  nx.rcode = 3;
  nx.nxdomain = true;
  EXPECT_EQ(interpret_openpgpkey(nx).status, Status::no_records);  // no key for that name
  Answer bogus = key_answer({"KEY1"}, false);
  bogus.bogus = true;
  auto b = interpret_openpgpkey(bogus);
  EXPECT_EQ(b.status, Status::temporary);
  EXPECT_TRUE(b.bogus);
  EXPECT_TRUE(b.keys.empty());
}

TEST(InterpretKeys, SmimeaRecordsUseTheTlsaFormat) {
  auto r = interpret_smimea(key_answer({std::string("\x03\x00\x00", 3) + "DER", "\x01"}, true));
  ASSERT_EQ(r.status, Status::ok);
  ASSERT_EQ(r.records.size(), 1u);  // the one-byte record is malformed
  EXPECT_EQ(r.records[0].usage, 3);
  EXPECT_EQ(r.records[0].selector, 0);
  EXPECT_EQ(std::string(r.records[0].data.begin(), r.records[0].data.end()), "DER");
  EXPECT_NE(r.reason.find("1 malformed"), std::string::npos) << r.reason;
}

}  // namespace
}  // namespace mailseal::dns
