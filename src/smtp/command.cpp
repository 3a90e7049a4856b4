// Command line and MAIL/RCPT argument parsing.
#include "smtp/command.h"

#include <array>
#include <cctype>
#include <utility>

#include "util/strings.h"

namespace mailseal::smtp {

namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 15> kVerbs{{
    {"EHLO", Verb::ehlo},
    {"HELO", Verb::helo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls},
    {"BDAT", Verb::bdat},
    {"AUTH", Verb::auth},
    {"", Verb::unknown},
}};

bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  if (std::isalnum(c)) return true;
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool valid_local_part(std::string_view local, bool utf8) {
  if (local.empty() || local.size() > 64) return false;
  if (local.front() == '"') {  // Quoted-string
    if (local.size() < 2 || local.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      auto c = static_cast<unsigned char>(local[i]);
      if (c == '\\') {
        if (++i + 1 >= local.size()) return false;
        continue;
      }
      if (c == '"' || c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) return false;
    }
    return true;
  }
  if (local.front() == '.' || local.back() == '.') return false;
  for (std::size_t i = 0; i < local.size(); ++i) {
    auto c = static_cast<unsigned char>(local[i]);
    if (c == '.') {
      if (local[i + 1] == '.') return false;
      continue;
    }
    if (!is_atext(c, utf8)) return false;
  }
  return true;
}

bool valid_domain(std::string_view domain, bool utf8) {
  if (domain.empty() || domain.size() > 255) return false;
  if (domain.front() == '[') {  // address-literal: loose check, content validated by use
    if (domain.back() != ']') return false;
    for (char c : domain.substr(1, domain.size() - 2))
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-'))
        return false;
    return true;
  }
  for (auto label : util::split(domain, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char ch : label) {
      auto c = static_cast<unsigned char>(ch);
      if (!(std::isalnum(c) || c == '-' || (c >= 0x80 && utf8))) return false;
    }
  }
  return true;
}

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  auto space = line.find(' ');
  cmd.verb_text = line.substr(0, space);
  if (space != std::string_view::npos) cmd.argument = line.substr(space + 1);
  for (const auto& [name, verb] : kVerbs) {
    if (!name.empty() && util::iequals(cmd.verb_text, name)) {
      cmd.verb = verb;
      break;
    }
  }
  return cmd;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80           ? 0
                : (c >> 5) == 0x6  ? 1
                : (c >> 4) == 0xe  ? 2
                : (c >> 3) == 0x1e ? 3
                                   : -1;
    if (extra < 0 || (extra == 1 && c < 0xc2)) return false;
    if (extra > 0 && i + static_cast<std::size_t>(extra) >= s.size()) return false;
    for (int k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

bool valid_mailbox(std::string_view address, bool utf8_allowed) {
  if (address.size() > 254) return false;
  if (utf8_allowed ? !valid_utf8(address) : !util::is_ascii(address)) return false;
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  return valid_local_part(address.substr(0, at), utf8_allowed) &&
         valid_domain(address.substr(at + 1), utf8_allowed);
}

std::string_view domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

std::variant<PathArgument, Reply> parse_path_argument(std::string_view argument,
                                                      std::string_view keyword,
                                                      bool null_path_allowed, bool utf8_allowed) {
  const Reply syntax = make_reply(
      501, "5.5.4",
      "Syntax: " + std::string(keyword == "FROM" ? "MAIL FROM:<address>" : "RCPT TO:<address>"));
  if (!util::istarts_with(argument, keyword) || argument.size() <= keyword.size() ||
      argument[keyword.size()] != ':')
    return syntax;
  std::string_view rest = argument.substr(keyword.size() + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);  // "FROM: <a@b>"
  if (rest.empty() || rest.front() != '<') return syntax;
  auto close = rest.find('>');
  if (close == std::string_view::npos) return syntax;
  std::string_view path = rest.substr(1, close - 1);
  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return syntax;

  if (!path.empty() && path.front() == '@') {  // source route: ignore (RFC 5321 4.1.2, C)
    auto colon = path.find(':');
    if (colon == std::string_view::npos) return syntax;
    path.remove_prefix(colon + 1);
  }
  PathArgument out;
  out.address = std::string(path);
  for (auto token : util::split(util::trim(params), ' ')) {
    if (token.empty()) continue;
    auto eq = token.find('=');
    std::string key = std::string(token.substr(0, eq));
    for (char& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out.params[key] = eq == std::string_view::npos ? "" : std::string(token.substr(eq + 1));
  }
  const bool utf8 = utf8_allowed || out.params.count("SMTPUTF8");
  if (path.empty()) {
    if (!null_path_allowed) return make_reply(501, "5.1.3", "Null recipient address not allowed");
    return out;
  }
  if (!utf8 && !util::is_ascii(path))
    return make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8 (RFC 6531)");
  // RFC 5321 4.5.1: "Postmaster" without a domain must be accepted as a recipient.
  if (!null_path_allowed && util::iequals(path, "postmaster")) return out;
  if (path.size() > 256 || !valid_mailbox(path, utf8))
    return make_reply(553, "5.1.3", "Bad address syntax");
  return out;
}

}  // namespace mailseal::smtp
