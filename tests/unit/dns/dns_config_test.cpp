// The [dns] section: resolver address forms, defaults, and errors with their line.
#include <gtest/gtest.h>

#include "core/config.h"

namespace mailseal::core {
namespace {

const char* kBase = R"(
[inside]
client_networks = ["127.0.0.0/8"]
[inside.next_hop]
kind = "maildir"
path = "out"
[outside]
internal_domains = ["example.org"]
[outside.next_hop]
kind = "maildir"
path = "in"
)";

std::variant<Config, std::vector<ConfigError>> parse_dns(const std::string& dns) {
  return parse_config(std::string(kBase) + "[dns]\n" + dns, "/etc/mailseal/mailseal.toml");
}

TEST(DnsConfig, Defaults) {
  auto r = parse_config(kBase, "/etc/mailseal/mailseal.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  const auto& d = std::get<Config>(r).dns;
  EXPECT_EQ(d.resolver_address, "");
  EXPECT_EQ(d.resolver_port, 53);
  EXPECT_TRUE(d.trust_anchor.empty());
  EXPECT_TRUE(d.dnssec);
  EXPECT_EQ(d.timeout, std::chrono::seconds(10));
}

TEST(DnsConfig, AddressForms) {
  struct Case {
    const char* text;
    const char* address;
    int port;
  };
  for (auto c : {Case{"127.0.0.1", "127.0.0.1", 53}, Case{"127.0.0.1:5353", "127.0.0.1", 5353},
                 Case{"[::1]:5353", "::1", 5353}, Case{"::1", "::1", 53}}) {
    auto r = parse_dns(std::string("resolver = \"") + c.text + "\"\n");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << c.text;
    EXPECT_EQ(std::get<Config>(r).dns.resolver_address, c.address) << c.text;
    EXPECT_EQ(std::get<Config>(r).dns.resolver_port, c.port) << c.text;
  }
}

TEST(DnsConfig, TrustAnchorTimeoutAndRelativePath) {
  auto r = parse_dns("trust_anchor = \"keys/root.key\"\ntimeout = \"3s\"\n");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).dns.trust_anchor, "/etc/mailseal/keys/root.key");
  EXPECT_EQ(std::get<Config>(r).dns.timeout, std::chrono::seconds(3));
}

TEST(DnsConfig, ErrorsCarryTheirLine) {
  for (const char* bad :
       {"resolver = \"localhost\"\n", "resolver = \"127.0.0.1:0\"\n",
        "resolver = \"127.0.0.1:53x\"\n", "resolver = \"[::1]x\"\n", "timeout = \"0s\"\n",
        "resolvr = \"127.0.0.1\"\n", "dnssec = false\ntrust_anchor = \"k\"\n"}) {
    auto r = parse_dns(bad);
    ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r)) << bad;
    const auto& e = std::get<std::vector<ConfigError>>(r).at(0);
    EXPECT_GE(e.line, 13) << bad << ": " << e.to_string();  // inside [dns], not elsewhere
    EXPECT_NE(e.message.find("dns."), std::string::npos) << e.to_string();
  }
}

}  // namespace
}  // namespace mailseal::core
