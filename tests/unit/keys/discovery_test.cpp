// Key discovery (issue 6): the WKD hash and URLs against the draft's example, the DANE
// owner names against RFC 7929's, and the discovery cache's lifetimes (found, not found,
// failed) and single flight with an injected clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "keys/dane_names.h"
#include "keys/discovery_cache.h"
#include "keys/discovery_source.h"
#include "keys/wkd_url.h"

namespace mailseal::keys {
namespace {

TEST(Zbase32, EncodesBitsMostSignificantFirst) {
  EXPECT_EQ(zbase32(""), "");
  EXPECT_EQ(zbase32(std::string(1, '\0')), "yy");
  EXPECT_EQ(zbase32("\xff"), "9h");
  EXPECT_EQ(zbase32(std::string(20, '\0')), std::string(32, 'y'));
  EXPECT_EQ(zbase32(std::string(20, '\xff')), std::string(32, '9'));
}

TEST(Wkd, HashOfTheDraftExample) {
  // draft-koch-openpgp-webkey-service 3.1: "Joe.Doe@Example.ORG" -> "joe.doe".
  EXPECT_EQ(wkd_hash("Joe.Doe"), "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
  EXPECT_EQ(wkd_hash("joe.doe"), "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
}

TEST(Wkd, UrlsOfTheDraftExample) {
  auto u = wkd_urls("Joe.Doe@Example.ORG");
  ASSERT_TRUE(u);
  EXPECT_EQ(wkd_url_text(u->advanced, 443),
            "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/"
            "iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe");
  EXPECT_EQ(wkd_url_text(u->direct, 443),
            "https://example.org/.well-known/openpgpkey/hu/"
            "iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe");
  EXPECT_EQ(wkd_url_text(u->direct, 8443).substr(0, 25), "https://example.org:8443/");
}

TEST(Wkd, LocalPartIsPercentEncodedAndBadDomainsRefused) {
  auto u = wkd_urls("a+b c&d@example.org");
  ASSERT_TRUE(u);
  EXPECT_NE(u->direct.path.find("?l=a%2Bb%20c%26d"), std::string::npos) << u->direct.path;
  EXPECT_EQ(percent_encode("A-z_0.~"), "A-z_0.~");
  for (const char* bad : {"nobody", "@example.org", "x@", "x@evil.example/../a", "x@a:1", "x@a b",
                          "x@[127.0.0.1]", "x@h?q", "x@h#f", "x@h%2f"})
    EXPECT_FALSE(wkd_urls(bad)) << bad;
}

TEST(Dane, OwnerNameOfTheRfc7929Example) {
  EXPECT_EQ(dane_local_part_hash("hugh"),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6");
  EXPECT_EQ(dane_owner_name("hugh@example.com", "_openpgpkey"),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com");
  EXPECT_EQ(dane_owner_name("hugh@Example.COM", "_smimecert"),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.example.com");
  // The local part is hashed as written (RFC 7929 5): "Hugh" is another name.
  EXPECT_NE(dane_local_part_hash("Hugh"), dane_local_part_hash("hugh"));
  EXPECT_FALSE(dane_owner_name("hugh", "_openpgpkey"));
  EXPECT_FALSE(dane_owner_name("hugh@", "_openpgpkey"));
}

TEST(Discovery, OwnDomainsAreNotLookedUp) {
  const std::vector<std::string> own = {"example.org"};
  EXPECT_TRUE(in_own_domain("alice@Example.ORG", own));
  EXPECT_FALSE(in_own_domain("alice@sub.example.org", own));  // exact, like internal_domains
  EXPECT_FALSE(in_own_domain("bob@partner.example", own));
  EXPECT_FALSE(in_own_domain("nodomain", own));
  EXPECT_EQ(discovery_key("wkd", KeyKind::openpgp, "Bob@Partner.Example"),
            "wkd/openpgp/Bob@partner.example");
}

struct FakeClock {
  std::int64_t t = 1'700'000'000;
  DiscoveryCache::Clock fn() {
    return [this] { return t; };
  }
};

DiscoveryEntry entry(DiscoveryEntry::State s, std::string blob = {}) {
  DiscoveryEntry e;
  e.state = s;
  if (!blob.empty()) e.blobs.push_back(std::move(blob));
  return e;
}

TEST(DiscoveryCache, EachStateLivesForItsOwnTtl) {
  FakeClock clock;
  DiscoveryLimits limits;
  limits.positive_ttl = std::chrono::seconds(3600);
  limits.negative_ttl = std::chrono::seconds(600);
  limits.failure_ttl = std::chrono::seconds(60);
  DiscoveryCache cache(limits, clock.fn());
  auto stored = cache.put("wkd/openpgp/a@x", entry(DiscoveryEntry::State::found, "KEY"));
  EXPECT_EQ(stored.fetched, clock.t);
  EXPECT_EQ(stored.expires, clock.t + 3600);
  cache.put("wkd/openpgp/b@x", entry(DiscoveryEntry::State::not_found));
  cache.put("wkd/openpgp/c@x", entry(DiscoveryEntry::State::failed));

  clock.t += 59;
  EXPECT_TRUE(cache.get("wkd/openpgp/c@x"));
  clock.t += 1;  // 60 s: the failure is forgotten, the others are not
  EXPECT_FALSE(cache.get("wkd/openpgp/c@x"));
  EXPECT_TRUE(cache.get("wkd/openpgp/b@x"));
  clock.t += 540;  // 600 s
  EXPECT_FALSE(cache.get("wkd/openpgp/b@x"));
  auto found = cache.get("wkd/openpgp/a@x");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->blobs, std::vector<std::string>{"KEY"});
  clock.t += 3000;  // 3600 s
  EXPECT_FALSE(cache.get("wkd/openpgp/a@x"));
}

TEST(DiscoveryCache, LookupFetchesOncePerTtlAndAgainAfter) {
  FakeClock clock;
  DiscoveryLimits limits;
  limits.failure_ttl = std::chrono::seconds(30);
  DiscoveryCache cache(limits, clock.fn());
  int fetches = 0;
  auto failing = [&] {
    ++fetches;
    return entry(DiscoveryEntry::State::failed);
  };
  bool cached = true;
  EXPECT_EQ(cache.lookup("k", failing, cached).state, DiscoveryEntry::State::failed);
  EXPECT_FALSE(cached);
  for (int i = 0; i < 5; ++i) {
    clock.t += 5;
    cache.lookup("k", failing, cached);
    EXPECT_TRUE(cached);
  }
  EXPECT_EQ(fetches, 1);  // a dead source is asked once per failure_ttl, not per message
  clock.t += 5;           // 30 s after the fetch
  cache.lookup("k", failing, cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(fetches, 2);
}

TEST(DiscoveryCache, ClockSetBackAndZeroTtlAndSizeLimit) {
  FakeClock clock;
  DiscoveryLimits limits;
  limits.negative_ttl = std::chrono::seconds(0);  // not cached at all
  limits.max_entries = 2;
  DiscoveryCache cache(limits, clock.fn());
  cache.put("n", entry(DiscoveryEntry::State::not_found));
  EXPECT_FALSE(cache.get("n"));
  cache.put("a", entry(DiscoveryEntry::State::found, "1"));
  clock.t += 1;
  cache.put("b", entry(DiscoveryEntry::State::found, "2"));
  cache.put("c", entry(DiscoveryEntry::State::found, "3"));  // evicts the oldest, "a"
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.get("a"));
  EXPECT_TRUE(cache.get("c"));
  clock.t -= 100;  // before the fetch: the entry's age is unknown, so it is stale
  EXPECT_FALSE(cache.get("c"));
}

TEST(DiscoveryCache, ConcurrentLookupsOfOneKeyShareOneFetch) {
  DiscoveryCache cache(DiscoveryLimits{}, nullptr, std::chrono::seconds(10));
  std::atomic<int> fetches{0};
  std::atomic<bool> release{false};
  auto slow = [&] {
    ++fetches;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return entry(DiscoveryEntry::State::failed);
  };
  std::vector<std::thread> threads;
  std::atomic<int> served_from_cache{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      bool cached = false;
      cache.lookup("dead", slow, cached);
      if (cached) ++served_from_cache;
    });
  while (fetches == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(fetches, 1);
  EXPECT_EQ(served_from_cache, 3);
}

}  // namespace
}  // namespace mailseal::keys
