#include "mime/clean_base64.h"

#include <array>
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
  std::string buf(kChunk, '\0');
  std::size_t symbols = 0, pads = 0;
  bool cr = false;
  for (std::size_t off = 0; off < body.size;) {
    long n = body.read_at(off, buf.data(), buf.size());
    if (n <= 0) return false;
    for (long i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(buf[i]);
      const signed char v = kTable[c];
      if (cr && c != '\n') return false;  // a CR not followed by LF
      cr = c == '\r';
      if (v == kLineEnd) continue;
      if (v == kNotBase64) return false;
      if (v == kPad) {
        ++pads;
      } else if (pads > 0) {
        return false;  // data after padding
      }
      ++symbols;
    }
    off += static_cast<std::size_t>(n);
  }
  return !cr && symbols % 4 == 0 && pads <= 2;
}

}  // namespace

std::optional<bool> decode_clean_base64(const Source& body, const AppendFn& out) {
  if (!is_clean(body)) return std::nullopt;
  std::string in(kChunk, '\0'), decoded;
  decoded.reserve(kChunk);
  unsigned quad = 0, have = 0, pads = 0;
  for (std::size_t off = 0; off < body.size;) {
    long n = body.read_at(off, in.data(), in.size());
    if (n <= 0) return false;
    decoded.clear();
    for (long i = 0; i < n; ++i) {
      const signed char v = kTable[static_cast<unsigned char>(in[i])];
      if (v == kLineEnd) continue;
      quad = (quad << 6) | (v == kPad ? 0u : static_cast<unsigned>(v));
      pads += v == kPad ? 1 : 0;
      if (++have < 4) continue;
      decoded.push_back(static_cast<char>(quad >> 16));
      if (pads < 2) decoded.push_back(static_cast<char>((quad >> 8) & 0xff));
      if (pads < 1) decoded.push_back(static_cast<char>(quad & 0xff));
      quad = have = 0;
    }
    if (!decoded.empty() && !out(decoded)) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace mailseal::mime
