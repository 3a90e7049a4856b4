#include "mime/clean_base64.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace mailseal::mime {
namespace {

constexpr signed char kNotBase64 = -1, kPad = -2, kLineEnd = -3;

constexpr std::array<signed char, 256> make_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = kNotBase64;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  t['='] = kPad;
  t['\n'] = kLineEnd;
  t['\r'] = kLineEnd;
  return t;
}
constexpr std::array<signed char, 256> kTable = make_table();

constexpr std::size_t kChunk = 64 * 1024;

// Pass 1: is the body clean? Every byte is in the alphabet, '=' or a line end (a CR only
// before LF), padding only at the very end, and the symbols form whole groups of four.
bool is_clean(const Source& body) {
  auto buf = std::make_unique_for_overwrite<char[]>(kChunk);
  std::size_t symbols = 0, pads = 0;
  bool cr = false;
  for (std::size_t off = 0; off < body.size;) {
    long n = body.read_at(off, buf.get(), kChunk);
    if (n <= 0) return false;
    for (long i = 0; i < n;) {
      // The common case: a run of symbols of the alphabet (a whole line), in a tight loop.
      long j = i;
      while (j < n && kTable[static_cast<unsigned char>(buf[j])] >= 0) ++j;
      if (j > i) {
        if (pads > 0 || cr) return false;  // data after padding, or CR before it
        symbols += static_cast<std::size_t>(j - i);
        i = j;
        continue;
      }
      const auto c = static_cast<unsigned char>(buf[i++]);
      const signed char v = kTable[c];
      if (cr && c != '\n') return false;  // a CR not followed by LF
      cr = c == '\r';
      if (v == kLineEnd) continue;
      if (v == kNotBase64) return false;
      ++pads;
      ++symbols;
    }
    off += static_cast<std::size_t>(n);
  }
  return !cr && symbols % 4 == 0 && pads <= 2;
}

}  // namespace

std::optional<bool> decode_clean_base64(const Source& body, const AppendFn& out) {
  if (!is_clean(body)) return std::nullopt;
  // Pass 2: three bytes per group of four symbols. The '=' padding (only at the very end)
  // decodes as zero bits; the bytes it stands for are cut from the end at the finish, so
  // the last two decoded bytes are always held back until the next chunk or the end.
  auto in = std::make_unique_for_overwrite<char[]>(kChunk);
  auto decoded = std::make_unique_for_overwrite<char[]>(kChunk);
  std::size_t held = 0;  // decoded bytes not yet given to `out`
  unsigned quad = 0, have = 0, pads = 0;
  for (std::size_t off = 0; off < body.size;) {
    long n = body.read_at(off, in.get(), kChunk);
    if (n <= 0) return false;
    char* o = decoded.get() + held;
    const auto* u = reinterpret_cast<const unsigned char*>(in.get());
    for (long i = 0; i < n;) {
      // The common case: whole groups of four symbols, three bytes each, no branch per
      // byte; it stops at a line end, the padding, or a group split by a line end.
      if (have == 0) {
        for (; i + 4 <= n; i += 4) {
          const int a = kTable[u[i]], b = kTable[u[i + 1]], c = kTable[u[i + 2]],
                    d = kTable[u[i + 3]];
          if ((a | b | c | d) < 0) break;
          const unsigned q = static_cast<unsigned>(a << 18 | b << 12 | c << 6 | d);
          *o++ = static_cast<char>(q >> 16);
          *o++ = static_cast<char>(q >> 8);
          *o++ = static_cast<char>(q);
        }
        if (i >= n) break;
      }
      signed char v = kTable[u[i++]];
      if (v < 0) {
        if (v != kPad) continue;  // a line end (is_clean allowed nothing else)
        ++pads;
        v = 0;
      }
      quad = (quad << 6) | static_cast<unsigned>(v);
      if (++have < 4) continue;
      *o++ = static_cast<char>(quad >> 16);
      *o++ = static_cast<char>(quad >> 8);
      *o++ = static_cast<char>(quad);
      quad = have = 0;
    }
    std::size_t total = static_cast<std::size_t>(o - decoded.get());
    held = std::min<std::size_t>(total, 2);
    if (total > held && !out(std::string_view(decoded.get(), total - held))) return false;
    std::memmove(decoded.get(), decoded.get() + total - held, held);
    off += static_cast<std::size_t>(n);
  }
  held -= std::min<std::size_t>(held, pads);
  return held == 0 || out(std::string_view(decoded.get(), held));
}

}  // namespace mailseal::mime
