// Configuration: defaults, relative paths, and every error with its line.
#include "core/config.h"

#include <gtest/gtest.h>

namespace mailseal::core {
namespace {

const char* kMinimal = R"(
[server]
hostname = "gw.example.org"
state_dir = "state"

[inside]
listen = "127.0.0.1:10025"
client_networks = ["10.0.0.0/8", "::1/128"]
[inside.next_hop]
kind = "smtp"
host = "smarthost.example.net"
port = 587
tls = "verify"

[outside]
listen = "[::1]:25"
internal_domains = ["Example.ORG"]
max_message_size = "20M"
idle_timeout = "2m"
[outside.next_hop]
kind = "maildir"
path = "mail/%r"
)";

TEST(Config, ParsesAndResolvesRelativePaths) {
  auto r = parse_config(kMinimal, "/etc/mailseal/mailseal.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r))
      << std::get<std::vector<ConfigError>>(r)[0].to_string();
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.hostname, "gw.example.org");
  EXPECT_EQ(c.state_dir, "/etc/mailseal/state");
  EXPECT_EQ(c.inside.port, 10025);
  EXPECT_EQ(c.inside.next_hop.kind, NextHopKind::smtp);
  EXPECT_EQ(c.inside.next_hop.port, 587);
  EXPECT_EQ(c.inside.next_hop.tls, TlsPolicy::verify);
  EXPECT_EQ(c.outside.address, "::1");
  EXPECT_EQ(c.outside.internal_domains, std::vector<std::string>{"example.org"});
  EXPECT_EQ(c.outside.max_message_size, 20u * 1024 * 1024);
  EXPECT_EQ(c.outside.idle_timeout, std::chrono::seconds(120));
  EXPECT_EQ(c.outside.next_hop.path, "/etc/mailseal/mail/%r");
  EXPECT_EQ(c.inside.bare_line_endings, smtp::BareLineEndings::refuse);
}

TEST(Config, ReportsEveryErrorWithLine) {
  const char* bad = R"([server]
hostname = 5
typo_key = 1

[inside]
listen = "127.0.0.1:99999"
client_networks = ["10.0.0.0/33"]
max_recipients = 0
[inside.next_hop]
kind = "carrier-pigeon"

[outside]
internal_domains = ["example.org"]
idle_timeout = "soon"
[outside.next_hop]
kind = "smtp"
)";
  auto r = parse_config(bad, "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r));
  auto errors = std::get<std::vector<ConfigError>>(r);
  std::string all;
  for (auto& e : errors) all += e.to_string() + "\n";
  EXPECT_NE(all.find("/x/m.toml:2: server.hostname must be a string"), std::string::npos) << all;
  EXPECT_NE(all.find("/x/m.toml:3: unknown key server.typo_key"), std::string::npos) << all;
  EXPECT_NE(all.find(":6: inside.listen: bad address or port"), std::string::npos) << all;
  EXPECT_NE(all.find(":7: inside.client_networks: \"10.0.0.0/33\""), std::string::npos) << all;
  EXPECT_NE(all.find(":8: inside.max_recipients must be between 1"), std::string::npos) << all;
  EXPECT_NE(all.find(":10: inside.next_hop.kind must be"), std::string::npos) << all;
  EXPECT_NE(all.find(":14: outside.idle_timeout must be a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("outside.next_hop.host is required"), std::string::npos) << all;
}

TEST(Config, SyntaxErrorHasLine) {
  auto r = parse_config("[server]\nhostname = \"x\nfoo", "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r));
  EXPECT_EQ(std::get<std::vector<ConfigError>>(r).at(0).line, 2);
}

TEST(Config, RequiresNetworksAndDomains) {
  auto r = parse_config(
      "[inside]\n[inside.next_hop]\npath=\"a\"\n[outside]\n[outside.next_hop]\npath=\"b\"\n",
      "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r));
  std::string all;
  for (auto& e : std::get<std::vector<ConfigError>>(r)) all += e.to_string() + "\n";
  EXPECT_NE(all.find("inside.client_networks must list"), std::string::npos) << all;
  EXPECT_NE(all.find("outside.internal_domains must list"), std::string::npos) << all;
}

TEST(Config, ShippedDefaultIsValid) {
  auto r = load_config(std::string(MAILSEAL_SOURCE_DIR) + "/config/mailseal.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r))
      << std::get<std::vector<ConfigError>>(r)[0].to_string();
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.inside.port, 10025);
  EXPECT_EQ(c.outside.port, 10026);
  EXPECT_EQ(c.state_dir, std::filesystem::path(MAILSEAL_SOURCE_DIR) / "var");
}

TEST(Network, ContainsV4AndV6) {
  auto n = parse_network("10.1.0.0/16");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains(*parse_ip("10.1.200.3")));
  EXPECT_FALSE(n->contains(*parse_ip("10.2.0.1")));
  EXPECT_FALSE(n->contains(*parse_ip("::1")));
  auto v6 = parse_network("2001:db8::/32");
  EXPECT_TRUE(v6->contains(*parse_ip("2001:db8:1::5")));
  EXPECT_FALSE(v6->contains(*parse_ip("2001:db9::5")));
  EXPECT_TRUE(parse_network("192.0.2.7")->contains(*parse_ip("192.0.2.7")));
  EXPECT_FALSE(parse_network("192.0.2.7")->contains(*parse_ip("192.0.2.8")));
  EXPECT_FALSE(parse_network("nonsense"));
  EXPECT_FALSE(parse_network("10.0.0.0/x"));
}

}  // namespace
}  // namespace mailseal::core

namespace mailseal::core {
namespace {

const char* kBase = R"(
[inside]
client_networks = ["127.0.0.0/8"]
[inside.next_hop]
path = "a"
[outside]
internal_domains = ["example.org"]
[outside.next_hop]
path = "b"
)";

TEST(Config, SealAndOpenAreOffUnlessConfigured) {
  auto r = parse_config(kBase, "/x/m.toml");
  const auto& c = std::get<Config>(r);
  EXPECT_FALSE(c.seal.enabled);
  EXPECT_FALSE(c.open.enabled);
}

TEST(Config, SealAndOpenChoices) {
  std::string text = std::string(kBase) + R"(
[seal]
cipher = "aes-256-gcm"
no_certificate = "sign-only"
[open]
untrusted = "reject"
)";
  auto r = parse_config(text, "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  const auto& c = std::get<Config>(r);
  EXPECT_TRUE(c.seal.enabled);
  EXPECT_EQ(c.seal.cipher, "aes-256-gcm");
  EXPECT_EQ(c.seal.no_certificate, "sign-only");
  EXPECT_TRUE(c.open.enabled);
  EXPECT_EQ(c.open.untrusted, "reject");
  EXPECT_EQ(c.open.from_mismatch, "reject");
}

TEST(Config, BadChoiceListsTheAllowedValues) {
  std::string text = std::string(kBase) + "[seal]\ncipher = \"des\"\n";
  auto r = parse_config(text, "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r));
  EXPECT_NE(std::get<std::vector<ConfigError>>(r)[0].to_string().find(
                "seal.cipher must be one of \"aes-256-cbc\", \"aes-256-gcm\""),
            std::string::npos);
}

TEST(Config, RevocationDefaultsAndChoices) {
  auto d = std::get<Config>(parse_config(kBase, "/x/m.toml"));
  EXPECT_EQ(d.revocation.ocsp, "soft-fail");
  EXPECT_TRUE(d.revocation.crl_fetch);
  EXPECT_TRUE(d.revocation.ocsp_url.empty());
  std::string text = std::string(kBase) + R"(
[revocation]
ocsp = "hard-fail"
ocsp_timeout = "3s"
ocsp_url = "http://ocsp.example.net/"
crl_fetch = false
)";
  auto r = parse_config(text, "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.revocation.ocsp, "hard-fail");
  EXPECT_EQ(c.revocation.ocsp_timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.revocation.ocsp_url, "http://ocsp.example.net/");
  EXPECT_FALSE(c.revocation.crl_fetch);
  auto bad = parse_config(
      std::string(kBase) + "[revocation]\nocsp = \"sometimes\"\nocsp_url = \"https://x/\"\n",
      "/x/m.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(bad));
  EXPECT_EQ(std::get<std::vector<ConfigError>>(bad).size(), 2u);
}

}  // namespace
}  // namespace mailseal::core
