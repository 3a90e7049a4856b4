// Harvest decisions and the Autocrypt header (see harvest.h).
#include "gateway/harvest.h"

#include <strings.h>

#include "keys/key_source.h"
#include "util/base64.h"
#include "util/strings.h"

namespace mailseal::gateway {
namespace {

// A key block in a header; more is not a key anyone sends (and bounds the decode).
constexpr std::size_t kMaxKeydata = 128 * 1024;

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// One header value -> keydata, when its addr is `from` and it is well-formed.
std::optional<std::string> parse_autocrypt(std::string_view value, std::string_view from) {
  std::optional<std::string> addr, keydata;
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t semi = value.find(';', pos);
    std::string_view item =
        value.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
    pos = semi == std::string_view::npos ? value.size() + 1 : semi + 1;
    std::string attr = trim(item);
    if (attr.empty()) continue;
    std::size_t eq = attr.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string name = util::to_lower(trim(std::string_view(attr).substr(0, eq)));
    std::string val = trim(std::string_view(attr).substr(eq + 1));
    if (name == "addr") {
      if (addr) return std::nullopt;
      addr = val;
    } else if (name == "keydata") {
      if (keydata) return std::nullopt;
      keydata = val;
    } else if (name == "prefer-encrypt" || name.rfind('_', 0) == 0) {
      // known or non-critical: ignored
    } else {
      return std::nullopt;  // an unknown critical attribute makes the header invalid
    }
  }
  if (!addr || !keydata || keydata->size() > kMaxKeydata * 2) return std::nullopt;
  if (util::to_lower(*addr) != util::to_lower(from)) return std::nullopt;
  std::string compact;  // folded header: white space inside the base64 is not data
  for (char c : *keydata)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') compact.push_back(c);
  auto decoded = util::base64_decode(compact);
  if (!decoded || decoded->empty() || decoded->size() > kMaxKeydata) return std::nullopt;
  return decoded;
}

}  // namespace

bool smime_harvestable(const std::vector<crypto::smime::Verdict>& verdicts,
                       const std::vector<std::string>& from) {
  if (verdicts.empty() || from.size() != 1) return false;
  const std::string want = keys::normalise_address(from.front());
  for (const auto& v : verdicts) {
    if (v.status != crypto::smime::VerdictStatus::valid || !v.signer) return false;
    bool bound = false;
    for (const auto& e : v.signer_emails) bound |= keys::normalise_address(e) == want;
    if (!bound) return false;
  }
  return true;
}

bool openpgp_harvestable(const std::vector<openpgp::Verdict>& verdicts,
                         const std::vector<std::string>& from) {
  if (verdicts.empty() || from.size() != 1) return false;
  for (const auto& v : verdicts) {
    if (v.status != openpgp::VerdictStatus::valid || v.signer_fingerprint.empty() ||
        v.signing_key_fingerprint.empty() || !v.signed_by(from.front()))
      return false;
  }
  return true;
}

std::optional<std::string> autocrypt_keydata(const std::vector<mime::Header>& headers,
                                             std::string_view from) {
  std::optional<std::string> found;
  for (const auto& h : headers) {
    if (strcasecmp(h.name.c_str(), "Autocrypt") != 0) continue;
    auto k = parse_autocrypt(h.value, from);
    if (!k) continue;
    if (found) return std::nullopt;  // more than one valid header: none (Autocrypt 2.1)
    found = std::move(k);
  }
  return found;
}

}  // namespace mailseal::gateway
