// OpenpgpKeys: key sources -> RNP keyring, and the per-thread kept keyring (see
// openpgp_keys.h for the rules that keep it equivalent to a fresh keyring per message).
#include "gateway/openpgp_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace mailseal::gateway {
namespace {

using openpgp::Seconds;

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Seconds now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// SHA-256 over the length-prefixed blobs: identifies what was imported for a key.
std::string digest(const std::vector<std::string>& blobs) {
  if (blobs.empty()) return {};
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // fetched once
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!sha256 || !ctx || EVP_DigestInit_ex(ctx.get(), sha256, nullptr) != 1) return "!";
  for (const auto& b : blobs) {
    std::uint64_t n = b.size();
    EVP_DigestUpdate(ctx.get(), &n, sizeof n);
    EVP_DigestUpdate(ctx.get(), b.data(), b.size());
  }
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return "!";
  return std::string(reinterpret_cast<const char*>(md), len);
}

// The kept keyring of one thread and what each key in it was imported from.
struct ThreadRing {
  struct Entry {
    std::string pub_hash, sec_hash;  // digest() of the imported blobs ("" = none)
    std::optional<Seconds> expiry;   // re-import when reached (RNP keeps its validity)
    bool dirty = false;              // merged with unknown bytes: never trusted
  };
  std::optional<openpgp::Keyring> ring;
  std::map<std::string, Entry> entries;  // upper-case primary fingerprint
  Seconds created{};

  void reset() {
    entries.clear();
    ring.reset();  // RNP frees (and clears) the secret key material
  }
};

thread_local ThreadRing t_ring;

// The primary fingerprint of stored key bytes. Sources normally say it (the SQLite
// store does); for one that does not, the bytes are imported once into a scratch
// keyring and the answer remembered by digest (bounded).
std::string fingerprint_of(const std::string& given, const std::string& data) {
  if (!given.empty()) return upper(given);
  thread_local std::map<std::string, std::string> known;
  std::string d = digest({data});
  if (auto it = known.find(d); it != known.end()) return it->second;
  std::string fpr;
  if (auto scratch = openpgp::Keyring::create()) {
    if (auto imported = scratch->import_keys(data); imported && !imported->empty())
      fpr = upper(imported->front().fingerprint());
  }
  if (known.size() >= 1024) known.clear();
  known.emplace(std::move(d), fpr);
  return fpr;
}

bool expired(const ThreadRing::Entry& e, Seconds now) {
  return e.expiry && now >= *e.expiry;
}

}  // namespace

MessageKeySet::Blobs::~Blobs() {
  for (auto& s : sec)
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

std::optional<openpgp::Keyring> OpenpgpKeys::new_keyring() {
  auto ring = openpgp::Keyring::create();
  if (!ring) return std::nullopt;
  return std::move(ring).value();
}

bool OpenpgpKeys::load_public(openpgp::Keyring& ring, const std::string& address,
                              std::optional<keys::SourceError>& error) {
  std::optional<keys::SourceError> deferred;
  bool any = false;
  for (keys::KeySource* s : sources_) {
    std::optional<keys::SourceError> e;
    auto found = s->find_public(address, keys::KeyKind::openpgp, e);
    if (e && !s->discovery()) {
      error = std::move(e);
      return false;
    }
    if (e && !deferred) deferred = std::move(e);
    for (const auto& rec : found)
      if (!rec.openpgp.empty()) any = ring.import_keys(rec.openpgp).ok() || any;
  }
  // A discovery source that failed decides only when nothing else had a key.
  if (deferred && !any) {
    error = std::move(deferred);
    return false;
  }
  return true;
}

bool OpenpgpKeys::load_secret(openpgp::Keyring& ring, const std::string& address,
                              std::optional<keys::SourceError>& error) {
  for (keys::KeySource* s : sources_) {
    auto found = s->find_secret(address, keys::KeyKind::openpgp, error);
    if (error) return false;
    for (auto& rec : found) {
      if (rec.openpgp.empty()) continue;
      (void)ring.import_keys(rec.openpgp);
      OPENSSL_cleanse(rec.openpgp.data(), rec.openpgp.size());
    }
  }
  return true;
}

std::vector<std::string> OpenpgpKeys::by_id(std::string_view id,
                                            std::optional<keys::SourceError>& error) {
  std::vector<std::string> out;
  for (keys::KeySource* s : sources_) {
    auto found = s->find_openpgp_by_id(id, error);
    if (error) return {};
    for (auto& rec : found)
      if (!rec.openpgp.empty()) out.push_back(std::move(rec.openpgp));
  }
  return out;
}

bool OpenpgpKeys::add_public(MessageKeySet& set, const std::string& address,
                             std::optional<keys::SourceError>& error,
                             std::optional<keys::SourceError>* discovery_error) {
  auto& fprs = set.encryption[address];
  std::optional<keys::SourceError> deferred;
  for (keys::KeySource* s : sources_) {
    std::optional<keys::SourceError> e;
    auto found = s->find_public(address, keys::KeyKind::openpgp, e);
    if (e && !s->discovery()) {
      error = std::move(e);
      return false;
    }
    if (e && !deferred) deferred = std::move(e);
    for (auto& rec : found) {
      if (rec.openpgp.empty()) continue;
      std::string fpr = fingerprint_of(rec.fingerprint, rec.openpgp);
      if (fpr.empty()) continue;  // does not parse: skipped, as import would skip it
      auto& pub = set.keys[fpr].pub;
      if (std::find(pub.begin(), pub.end(), rec.openpgp) == pub.end())
        pub.push_back(std::move(rec.openpgp));
      fprs.push_back(std::move(fpr));
    }
  }
  // A discovery source that failed (see KeySource::discovery()): handed to the caller
  // that asked for it, else it decides only when no other source had a key.
  if (deferred && discovery_error) {
    *discovery_error = std::move(deferred);
  } else if (deferred && fprs.empty()) {
    error = std::move(deferred);
    return false;
  }
  return true;
}

bool OpenpgpKeys::add_secret(MessageKeySet& set, const std::string& address,
                             std::optional<keys::SourceError>& error) {
  auto& fprs = set.signing[address];
  for (keys::KeySource* s : sources_) {
    auto found = s->find_secret(address, keys::KeyKind::openpgp, error);
    if (error) return false;
    for (auto& rec : found) {
      std::string fpr =
          rec.openpgp.empty() ? std::string() : fingerprint_of(rec.fingerprint, rec.openpgp);
      if (fpr.empty()) {
        OPENSSL_cleanse(rec.openpgp.data(), rec.openpgp.size());
        continue;
      }
      auto& sec = set.keys[fpr].sec;
      if (std::find(sec.begin(), sec.end(), rec.openpgp) == sec.end())
        sec.push_back(std::move(rec.openpgp));
      OPENSSL_cleanse(rec.openpgp.data(), rec.openpgp.size());  // a duplicate not moved
      fprs.push_back(std::move(fpr));
    }
  }
  return true;
}

openpgp::Keyring* OpenpgpKeys::sync(const MessageKeySet& set) {
  ThreadRing& t = t_ring;
  const Seconds now = now_seconds();
  if (t.ring && (now < t.created || now - t.created >= kRingTtl ||
                 t.entries.size() + set.keys.size() > kRingMaxKeys))
    t.reset();
  if (!t.ring) {
    auto ring = new_keyring();
    if (!ring) return nullptr;
    t.ring.emplace(std::move(*ring));
    t.created = now;
  }
  for (const auto& [fpr, blobs] : set.keys) {
    std::string ph = digest(blobs.pub), sh = digest(blobs.sec);
    auto it = t.entries.find(fpr);
    // Kept when it holds at least these bytes: a part the message does not need (e.g.
    // the secret key of an address that is only a recipient now) may stay; the checks
    // after each operation keep RNP from using such a part.
    if (it != t.entries.end() && !it->second.dirty && !expired(it->second, now) &&
        (ph.empty() || it->second.pub_hash == ph) && (sh.empty() || it->second.sec_hash == sh))
      continue;
    t.ring->drop(fpr);
    ThreadRing::Entry e;
    e.pub_hash = ph;
    e.sec_hash = sh;
    for (const auto& b : blobs.pub) (void)t.ring->add_stored_key(b, fpr);
    for (const auto& b : blobs.sec) (void)t.ring->add_stored_key(b, fpr);
    e.expiry = t.ring->earliest_expiry(fpr);
    t.entries[fpr] = std::move(e);
  }
  return &*t.ring;
}

std::vector<std::string> OpenpgpKeys::by_id_cached(std::string_view id,
                                                   std::optional<keys::SourceError>& error) {
  std::vector<std::string> out;
  ThreadRing& t = t_ring;
  for (keys::KeySource* s : sources_) {
    auto found = s->find_openpgp_by_id(id, error);
    if (error) return {};
    for (auto& rec : found) {
      if (rec.openpgp.empty()) continue;
      // RNP imports these (public parts) into the kept keyring: note what it will hold.
      std::string fpr = fingerprint_of(rec.fingerprint, rec.openpgp);
      auto [it, fresh] = t.entries.try_emplace(fpr);
      if (fresh && !fpr.empty())
        it->second.pub_hash = digest({rec.openpgp});
      else
        it->second.dirty = true;
      out.push_back(std::move(rec.openpgp));
    }
  }
  return out;
}

bool OpenpgpKeys::trusted_result(const openpgp::Verdict& v, const MessageKeySet& set) {
  ThreadRing& t = t_ring;
  if (!t.ring) return false;
  const Seconds now = now_seconds();
  // A key that failed a check leaves the kept keyring: the next message imports it anew
  // (through sync() or RNP's key provider) instead of failing the same way.
  auto evict = [&](const std::string& fpr) {
    t.ring->drop(fpr);
    t.entries.erase(fpr);
    return false;
  };
  // Holds exactly the message's bytes for this key (the parts it has, no others).
  auto exact = [&](const std::string& fpr) {
    auto s = set.keys.find(fpr);
    auto e = t.entries.find(fpr);
    return s != set.keys.end() && e != t.entries.end() && !e->second.dirty &&
           !expired(e->second, now) && e->second.pub_hash == digest(s->second.pub) &&
           e->second.sec_hash == digest(s->second.sec);
  };
  if (v.encrypted && !v.decryption_key_id.empty()) {
    std::string fpr = upper(t.ring->primary_fingerprint_of(v.decryption_key_id));
    auto s = set.keys.find(fpr);
    if (fpr.empty()) return false;
    // The secret part must be the one the sources give now; a public part kept beside
    // it (from a seal to this address) does not take part in decryption.
    auto e = t.entries.find(fpr);
    if (s == set.keys.end() || s->second.sec.empty() || e == t.entries.end() || e->second.dirty ||
        expired(e->second, now) || e->second.sec_hash != digest(s->second.sec))
      return evict(fpr);
  }
  for (const auto& sig : v.signature_keys) {
    if (sig.signer_fingerprint.empty()) continue;  // unknown: RNP asked the sources
    std::string fpr = upper(sig.signer_fingerprint);
    if (set.keys.count(fpr)) {
      if (!exact(fpr)) return evict(fpr);
      continue;
    }
    // A certificate kept from an earlier message: its public part must be what the
    // sources give for this key ID now, and it must not have expired since its import.
    // (A secret part merged in from the same store adds no signature that would change
    // the verdict: RNP uses the newest self-signature, and revocations only add.)
    std::optional<keys::SourceError> err;
    std::vector<std::string> current;
    for (keys::KeySource* s : sources_) {
      auto found = s->find_openpgp_by_id(sig.key_id, err);
      if (err) return false;
      for (auto& rec : found)
        if (!rec.openpgp.empty() && fingerprint_of(rec.fingerprint, rec.openpgp) == fpr)
          current.push_back(std::move(rec.openpgp));
    }
    auto e = t.entries.find(fpr);
    if (current.empty() || e == t.entries.end() || e->second.dirty ||
        e->second.pub_hash != digest(current))
      return evict(fpr);
    auto expiry = t.ring->earliest_expiry(fpr);
    if (expiry && now >= *expiry) return evict(fpr);
  }
  return true;
}

std::optional<std::string> OpenpgpKeys::encryption_key(const std::string& address,
                                                       std::optional<keys::SourceError>& error) {
  MessageKeySet set;
  // A failed discovery source matters only if no usable key is found without it.
  std::optional<keys::SourceError> discovery_error;
  if (!add_public(set, address, error, &discovery_error)) return std::nullopt;
  auto none = [&]() -> std::optional<std::string> {
    if (discovery_error) error = std::move(discovery_error);
    return std::nullopt;
  };
  if (set.keys.empty()) return none();
  openpgp::Keyring* ring = sync(set);
  if (!ring) return std::nullopt;
  auto choice = ring->key_for_address(address, openpgp::Usage::encrypt, set.encryption[address]);
  if (!choice) return none();
  return choice->primary_fingerprint;
}

}  // namespace mailseal::gateway
