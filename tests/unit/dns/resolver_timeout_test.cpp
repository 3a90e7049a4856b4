// A dead resolver must cost at most the configured timeout per lookup, also with many
// lookups in parallel (libunbound alone would retry for far longer), and a resolver that
// refuses must fail fast and temporarily.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "dns/resolver.h"

namespace mailseal::dns {
namespace {

// A UDP socket on loopback that receives queries and never answers.
struct SilentUdp {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  std::uint16_t port = 0;
  SilentUdp() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentUdp() { close(fd); }
};

// A UDP "resolver" that answers every query at once with REFUSED.
struct RefusingUdp : SilentUdp {
  std::thread thread{[this] {
    char buf[512];
    while (true) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) return;                                      // shutdown() ends the loop
      buf[2] = static_cast<char>(buf[2] | 0x80);               // QR
      buf[3] = static_cast<char>((buf[3] & 0xf0) | 0x80 | 5);  // RA, REFUSED
      sendto(fd, buf, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }};
  ~RefusingUdp() {
    shutdown(fd, SHUT_RDWR);
    thread.join();
  }
};

core::DnsConfig config_for(std::uint16_t port, int seconds) {
  core::DnsConfig c;
  c.resolver_address = "127.0.0.1";
  c.resolver_port = port;
  c.dnssec = false;
  c.timeout = std::chrono::seconds(seconds);
  return c;
}

using Clock = std::chrono::steady_clock;

TEST(ResolverTimeout, DeadResolverCostsAtMostTheTimeout) {
  SilentUdp dead;
  Resolver resolver(config_for(dead.port, 1));
  auto start = Clock::now();
  auto mx = resolver.lookup_mx("example.org");
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(mx.status, Status::temporary);
  EXPECT_NE(mx.reason.find("no answer within 1s"), std::string::npos) << mx.reason;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST(ResolverTimeout, ParallelLookupsEachWithinTheTimeout) {
  SilentUdp dead;
  Resolver resolver(config_for(dead.port, 1));
  auto start = Clock::now();
  std::vector<std::future<Status>> results;
  for (int i = 0; i < 8; ++i)
    results.push_back(std::async(std::launch::async, [&resolver, i] {
      return i % 2 ? resolver.lookup_addresses("host" + std::to_string(i) + ".example.org").status
                   : resolver.lookup_tlsa("host" + std::to_string(i) + ".example.org").status;
    }));
  for (auto& f : results) EXPECT_EQ(f.get(), Status::temporary);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1800));
}

TEST(ResolverTimeout, ResolverCanBeDestroyedRightAfterATimeout) {
  // Cancelled queries may still be answered inside libunbound later; nothing of ours
  // may be touched by then.
  SilentUdp dead;
  for (int i = 0; i < 3; ++i) {
    Resolver resolver(config_for(dead.port, 1));
    EXPECT_EQ(resolver.lookup_mx("example.org").status, Status::temporary);
  }
}

TEST(ResolverTimeout, RefusingResolverFailsFastFromManyThreads) {
  // Answers (not timeouts) arriving for many threads at once: each gets its own.
  RefusingUdp refusing;
  Resolver resolver(config_for(refusing.port, 5));
  auto start = Clock::now();
  std::vector<std::future<int>> results;
  for (int t = 0; t < 6; ++t)
    results.push_back(std::async(std::launch::async, [&resolver, t] {
      int temporary = 0;
      for (int i = 0; i < 20; ++i) {
        auto name = "h" + std::to_string(t) + "-" + std::to_string(i) + ".example.org";
        auto r = resolver.lookup_addresses(name);
        if (r.status == Status::temporary && r.reason.find(name) == 0) ++temporary;
      }
      return temporary;
    }));
  for (auto& f : results) EXPECT_EQ(f.get(), 20);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST(ResolverTimeout, UnreadableTrustAnchorIsAStartupError) {
  core::DnsConfig c = config_for(53, 1);
  c.dnssec = true;
  c.trust_anchor = "/nonexistent/root.key";
  EXPECT_THROW(Resolver{c}, std::runtime_error);
}

}  // namespace
}  // namespace mailseal::dns
