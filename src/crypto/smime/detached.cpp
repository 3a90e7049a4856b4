// parse_cms_detached: large CMS without holding it in memory. OpenSSL 3 has no streaming
// decoder for (indefinite-length) BER, so the TLVs are walked here over random-access
// storage: the inner content (encryptedContent of enveloped / authEnveloped data, eContent
// of signed-data) is cut out, the small rest is handed to OpenSSL as a "detached"
// structure, and a BIO streams the content octets (the primitive OCTET STRING chunks of a
// constructed encoding, concatenated) from storage when the caller decrypts or verifies.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/smime/smime.h"

namespace mailseal::crypto::smime {
namespace {

constexpr std::size_t kIndefinite = std::numeric_limits<std::size_t>::max();
constexpr int kMaxDepth = 32;

// Byte access through a 64 KiB window over a positional reader.
class Cursor {
 public:
  Cursor(ReadAtFn read_at, std::size_t size) : read_at_(std::move(read_at)), size_(size) {}
  std::size_t size() const { return size_; }
  // Copies n bytes at pos; false when they are not all there.
  bool get(std::size_t pos, unsigned char* out, std::size_t n) {
    if (pos > size_ || n > size_ - pos) return false;
    while (n > 0) {
      if (pos < win_off_ || pos >= win_off_ + win_.size()) {
        win_.resize(std::min<std::size_t>(65536, size_ - pos));
        std::size_t got = 0;
        while (got < win_.size()) {
          long r = read_at_(pos + got, win_.data() + got, win_.size() - got);
          if (r <= 0) return false;
          got += static_cast<std::size_t>(r);
        }
        win_off_ = pos;
      }
      std::size_t k = std::min(n, win_off_ + win_.size() - pos);
      std::memcpy(out, win_.data() + (pos - win_off_), k);
      out += k;
      pos += k;
      n -= k;
    }
    return true;
  }
  long read_at(std::size_t pos, char* buf, std::size_t n) { return read_at_(pos, buf, n); }

 private:
  ReadAtFn read_at_;
  std::size_t size_;
  std::vector<char> win_;
  std::size_t win_off_ = 0;
};

// One BER TLV: identifier octets at `start`, contents at `content`.
struct Tlv {
  std::size_t start = 0;
  unsigned char tag = 0;  // first identifier octet (class, constructed bit, number < 31)
  bool constructed = false;
  std::size_t content = 0;
  std::size_t length = 0;       // kIndefinite for indefinite length
  std::size_t end = 0;          // first byte after the element (after the EOC if indefinite)
  std::size_t content_end = 0;  // end of the contents (the EOC's position if indefinite)
};

// Reads identifier and length at pos, within [pos, limit). Multi-octet tag numbers are
// not used by CMS and are refused.
bool read_header(Cursor& c, std::size_t pos, std::size_t limit, Tlv& t) {
  unsigned char b[2];
  if (pos >= limit || !c.get(pos, b, 2) || pos + 2 > limit) return false;
  if ((b[0] & 0x1f) == 0x1f) return false;
  t.start = pos;
  t.tag = b[0];
  t.constructed = (b[0] & 0x20) != 0;
  pos += 2;
  if (b[1] < 0x80) {
    t.length = b[1];
  } else if (b[1] == 0x80) {
    if (!t.constructed) return false;
    t.length = kIndefinite;
  } else {
    std::size_t n = b[1] & 0x7f;
    if (n > sizeof(std::size_t) || n == 0x7f) return false;
    unsigned char len[8];
    if (pos + n > limit || !c.get(pos, len, n)) return false;
    std::size_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (v > (std::numeric_limits<std::size_t>::max() >> 8)) return false;
      v = (v << 8) | len[i];
    }
    t.length = v;
    pos += n;
  }
  t.content = pos;
  if (t.length != kIndefinite) {
    if (t.length > limit - t.content) return false;
    t.content_end = t.end = t.content + t.length;
  }
  return true;
}

// Completes `t` (end, content_end) for an indefinite length by walking its children.
bool finish(Cursor& c, Tlv& t, std::size_t limit, int depth) {
  if (t.length != kIndefinite) return true;
  if (depth > kMaxDepth) return false;
  std::size_t pos = t.content;
  while (true) {
    Tlv child;
    if (!read_header(c, pos, limit, child)) return false;
    if (child.tag == 0 && child.length == 0) {  // end-of-contents
      t.content_end = pos;
      t.end = pos + 2;
      return true;
    }
    if (!finish(c, child, limit, depth + 1)) return false;
    pos = child.end;
  }
}

// The children of a constructed element, each finished.
bool children(Cursor& c, const Tlv& parent, std::vector<Tlv>& out, std::size_t max = 16) {
  out.clear();
  std::size_t pos = parent.content;
  while (pos < parent.content_end) {
    Tlv child;
    if (!read_header(c, pos, parent.content_end, child) || !finish(c, child, parent.content_end, 1))
      return false;
    if (child.tag == 0 && child.length == 0) return false;  // stray end-of-contents
    out.push_back(child);
    pos = child.end;
    if (out.size() > max) return false;
  }
  return pos == parent.content_end;
}

bool is_oid(Cursor& c, const Tlv& t, const unsigned char* der, std::size_t n) {
  if (t.tag != 0x06 || t.end - t.start != n) return false;
  unsigned char buf[32];
  return n <= sizeof buf && c.get(t.start, buf, n) && std::memcmp(buf, der, n) == 0;
}

const unsigned char kSignedData[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                     0xf7, 0x0d, 0x01, 0x07, 0x02};
const unsigned char kEnvelopedData[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                        0xf7, 0x0d, 0x01, 0x07, 0x03};
const unsigned char kAuthEnvelopedData[] = {0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                            0x0d, 0x01, 0x09, 0x10, 0x01, 0x17};

// State of the content BIO: a walk over the OCTET STRING chunks of one element.
struct ChunkWalk {
  std::shared_ptr<Cursor> cursor;
  Tlv root;
  bool started = false;
  struct Frame {
    std::size_t pos, end;  // end = content_end of the constructed element
  };
  std::vector<Frame> stack;
  std::size_t cur = 0, cur_end = 0;  // the current primitive chunk's unread bytes
  bool failed = false;

  // Moves to the next non-empty primitive chunk; false at the end (or on error).
  bool next() {
    if (!started) {
      started = true;
      if (!root.constructed) {
        cur = root.content;
        cur_end = root.content_end;
        return cur < cur_end || next();
      }
      stack.push_back({root.content, root.content_end});
    }
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.pos >= f.end) {
        stack.pop_back();
        continue;
      }
      Tlv t;
      if (!read_header(*cursor, f.pos, f.end, t) || !finish(*cursor, t, f.end, 1) ||
          (t.tag & 0x1f) != 0x04 || (t.tag & 0xc0) != 0) {
        failed = true;  // chunks must be OCTET STRINGs (X.690 8.7.3.2)
        return false;
      }
      f.pos = t.end;
      if (t.constructed) {
        if (stack.size() >= kMaxDepth) {
          failed = true;
          return false;
        }
        stack.push_back({t.content, t.content_end});
        continue;
      }
      if (t.content < t.content_end) {
        cur = t.content;
        cur_end = t.content_end;
        return true;
      }
    }
    return false;
  }
};

int chunk_read(BIO* bio, char* buf, int n) {
  auto* w = static_cast<ChunkWalk*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (n <= 0) return 0;
  if (w->failed) return -1;
  if (w->cur >= w->cur_end && !w->next()) return w->failed ? -1 : 0;
  std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(n), w->cur_end - w->cur);
  long r = w->cursor->read_at(w->cur, buf, k);
  if (r <= 0) {
    w->failed = true;
    return -1;
  }
  w->cur += static_cast<std::size_t>(r);
  return static_cast<int>(r);
}

long chunk_ctrl(BIO* bio, int cmd, long, void*) {
  auto* w = static_cast<ChunkWalk*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_EOF:
      return w->started && w->cur >= w->cur_end && w->stack.empty() ? 1 : 0;
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int chunk_destroy(BIO* bio) {
  delete static_cast<ChunkWalk*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  return 1;
}

const BIO_METHOD* chunk_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* meth =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailseal-cms-content");
    BIO_meth_set_read(meth, chunk_read);
    BIO_meth_set_ctrl(meth, chunk_ctrl);
    BIO_meth_set_destroy(meth, chunk_destroy);
    return meth;
  }();
  return m;
}

// Certificates seen in signed-data, by the SHA-256 of their DER. OpenSSL 3 decodes a
// certificate's public key through its provider decoders, whose set-up costs more than
// verifying the signature; correspondents send the same certificates with every
// message. An X509 is only read after parsing (openssl-threads(7)), so one object serves
// every thread. Bounded: emptied when full.
class CertCache {
 public:
  X509Ptr get(const unsigned char* der, std::size_t n) {
    unsigned char md[32];
    if (EVP_Digest(der, n, md, nullptr, EVP_sha256(), nullptr) != 1) return nullptr;
    std::string key(reinterpret_cast<const char*>(md), sizeof md);
    {
      std::lock_guard lock(mu_);
      if (auto it = map_.find(key); it != map_.end()) return share(it->second.get());
    }
    const unsigned char* p = der;
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(n)));
    if (!cert || p != der + n) return nullptr;
    std::lock_guard lock(mu_);
    if (map_.size() >= kCapacity) map_.clear();
    map_.emplace(std::move(key), share(cert.get()));
    return cert;
  }

 private:
  static constexpr std::size_t kCapacity = 1024;
  std::mutex mu_;
  std::unordered_map<std::string, X509Ptr> map_;
};

CertCache& cert_cache() {
  static CertCache* cache = new CertCache;  // never destroyed: used until exit
  return *cache;
}

}  // namespace

ParsedCms parse_cms_der(std::string_view der) {
  auto plain = [&] {
    BioPtr mem(BIO_new_mem_buf(der.data(), static_cast<int>(der.size())));
    return parse_cms(mem.get());
  };
  if (der.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return plain();
  Cursor c(
      [der](std::size_t off, char* buf, std::size_t n) -> long {
        if (off >= der.size()) return 0;
        n = std::min(n, der.size() - off);
        std::memcpy(buf, der.data() + off, n);
        return static_cast<long>(n);
      },
      der.size());
  // ContentInfo -> [0] -> SignedData { version, digestAlgorithms, encapContentInfo,
  // certificates [0] IMPLICIT, ... }: anything else takes the plain way.
  Tlv levels[3];
  std::vector<Tlv> kids;
  if (!read_header(c, 0, der.size(), levels[0]) || levels[0].tag != 0x30 ||
      !finish(c, levels[0], der.size(), 0) || levels[0].end != der.size() ||
      !children(c, levels[0], kids, 2) || kids.size() != 2 || kids[1].tag != 0xa0 ||
      !is_oid(c, kids[0], kSignedData, sizeof kSignedData))
    return plain();
  levels[1] = kids[1];
  if (!children(c, levels[1], kids, 1) || kids.size() != 1 || kids[0].tag != 0x30) return plain();
  levels[2] = kids[0];
  if (!children(c, levels[2], kids, 8) || kids.size() < 5 || kids[0].tag != 0x02 ||
      kids[1].tag != 0x31 || kids[2].tag != 0x30 || kids[3].tag != 0xa0)
    return plain();
  const Tlv certs = kids[3];
  if (!children(c, certs, kids, 64) || kids.empty()) return plain();
  for (const Tlv& k : kids)  // Certificate (DER) only; other CertificateChoices: plain
    if (k.tag != 0x30 || k.length == kIndefinite) return plain();

  // The structure without its certificates (enclosing elements re-emitted with
  // indefinite length, so no length needs recomputing), then the certificates added
  // back in their order from the cache.
  std::string rest;
  rest.reserve(der.size() + 8);
  std::size_t pos = 0;
  for (const Tlv& l : levels) {
    rest.append(der.substr(pos, l.start - pos));
    rest.push_back(static_cast<char>(l.tag));
    rest.push_back(static_cast<char>(0x80));
    pos = l.content;
  }
  rest.append(der.substr(pos, certs.start - pos));
  pos = certs.end;
  for (int k = 2; k >= 0; --k) {
    rest.append(der.substr(pos, levels[k].content_end - pos));
    rest.append("\0\0", 2);
    pos = levels[k].end;
  }
  std::vector<X509Ptr> found;
  for (const Tlv& k : kids) {
    X509Ptr cert = cert_cache().get(reinterpret_cast<const unsigned char*>(der.data() + k.start),
                                    k.end - k.start);
    if (!cert) return plain();  // let OpenSSL report what is wrong with it
    found.push_back(std::move(cert));
  }
  BioPtr mem(BIO_new_mem_buf(rest.data(), static_cast<int>(rest.size())));
  ParsedCms out = parse_cms(mem.get());
  if (!out.status.ok()) return plain();
  for (const auto& cert : found)
    if (CMS_add1_cert(out.cms.get(), cert.get()) != 1) ERR_clear_error();  // a duplicate
  return out;
}

struct DetachedCms::Content {
  std::shared_ptr<Cursor> cursor;
  Tlv octets;
};

DetachedCms::DetachedCms() = default;
DetachedCms::~DetachedCms() = default;
DetachedCms::DetachedCms(DetachedCms&&) noexcept = default;
DetachedCms& DetachedCms::operator=(DetachedCms&&) noexcept = default;

BioPtr DetachedCms::content() const {
  if (!content_) return BioPtr();
  BioPtr bio(BIO_new(chunk_method()));
  if (!bio) return bio;
  auto* w = new ChunkWalk;
  w->cursor = content_->cursor;
  w->root = content_->octets;
  BIO_set_data(bio.get(), w);
  BIO_set_init(bio.get(), 1);
  return bio;
}

DetachedCms parse_cms_detached(ReadAtFn read_at, std::size_t size, std::size_t max_structure) {
  DetachedCms out;
  ERR_clear_error();
  auto malformed = [&](const std::string& why) {
    out.parsed.status = Status::fail(Failure::malformed, why);
    return std::move(out);
  };
  auto cursor = std::make_shared<Cursor>(std::move(read_at), size);
  Cursor& c = *cursor;

  // ContentInfo -> [0] -> SignedData/EnvelopedData/AuthEnvelopedData -> first SEQUENCE
  // (encapContentInfo / encryptedContentInfo) -> the content element.
  Tlv levels[4];
  std::vector<Tlv> kids;
  if (!read_header(c, 0, size, levels[0]) || levels[0].tag != 0x30 ||
      !finish(c, levels[0], size, 0))
    return malformed("not a CMS structure");
  if (!children(c, levels[0], kids, 2) || kids.size() != 2 || kids[1].tag != 0xa0)
    return malformed("not a CMS ContentInfo");
  bool is_signed = is_oid(c, kids[0], kSignedData, sizeof kSignedData);
  if (!is_signed && !is_oid(c, kids[0], kEnvelopedData, sizeof kEnvelopedData) &&
      !is_oid(c, kids[0], kAuthEnvelopedData, sizeof kAuthEnvelopedData))
    return malformed("unsupported CMS content type");
  levels[1] = kids[1];
  if (!children(c, levels[1], kids, 1) || kids.size() != 1 || kids[0].tag != 0x30)
    return malformed("malformed CMS content");
  levels[2] = kids[0];
  if (!children(c, levels[2], kids, 16)) return malformed("malformed CMS content");
  std::size_t i = 0;
  while (i < kids.size() && kids[i].tag != 0x30) ++i;
  if (i == kids.size()) return malformed("no encapsulated or encrypted content info");
  levels[3] = kids[i];
  if (!children(c, levels[3], kids, 3) || kids.size() < 1 || kids[0].tag != 0x06)
    return malformed("malformed content info");
  std::optional<Tlv> removed, octets;
  if (is_signed && kids.size() == 2 && kids[1].tag == 0xa0) {
    removed = kids[1];  // eContent [0] EXPLICIT OCTET STRING
    std::vector<Tlv> inner;
    if (!children(c, *removed, inner, 1) || inner.size() != 1 || (inner[0].tag & 0xdf) != 0x04)
      return malformed("malformed signed content");
    octets = inner[0];
  } else if (!is_signed && kids.size() == 3 && (kids[2].tag & 0xdf) == 0x80) {
    removed = octets = kids[2];  // encryptedContent [0] IMPLICIT OCTET STRING
  } else if (kids.size() != (is_signed ? 1u : 2u)) {
    return malformed("malformed content info");
  }

  // The structure without the content: enclosing elements re-emitted with indefinite
  // length (BER), so no length needs recomputing.
  std::size_t kept = size - (removed ? removed->end - removed->start : 0);
  if (kept > max_structure) return malformed("CMS structure around the content too large");
  std::string header;
  header.reserve(kept + 16);
  auto copy = [&](std::size_t from, std::size_t to) {
    std::size_t n = to - from;
    std::size_t at = header.size();
    header.resize(at + n);
    return c.get(from, reinterpret_cast<unsigned char*>(header.data() + at), n);
  };
  std::size_t pos = 0;
  bool ok = true;
  for (const Tlv& l : levels) {
    ok &= copy(pos, l.start);
    header.push_back(static_cast<char>(l.tag));
    header.push_back(static_cast<char>(0x80));
    pos = l.content;
  }
  std::size_t cut = removed ? removed->start : levels[3].content_end;
  ok &= copy(pos, cut);
  pos = removed ? removed->end : cut;
  for (int k = 3; k >= 0; --k) {
    ok &= copy(pos, levels[k].content_end);
    header.append("\0\0", 2);
    pos = levels[k].end;
  }
  if (!ok) return malformed("CMS structure cannot be read");

  out.parsed = parse_cms_der(header);
  if (!out.parsed.status.ok()) return out;
  if (octets) {
    // Walk the chunks once now, so that a malformed chunk is reported as malformed here
    // rather than as a short read in the middle of decrypting or verifying.
    out.content_ = std::make_unique<DetachedCms::Content>(DetachedCms::Content{cursor, *octets});
    BioPtr probe = out.content();
    auto* w = static_cast<ChunkWalk*>(BIO_get_data(probe.get()));
    std::size_t total = 0;
    while (w->next()) {
      total += w->cur_end - w->cur;
      w->cur = w->cur_end;
    }
    if (w->failed) {
      out.content_.reset();
      out.parsed.cms.reset();
      return malformed("malformed content octets");
    }
    out.content_size = total;
  }
  return out;
}

}  // namespace mailseal::crypto::smime
