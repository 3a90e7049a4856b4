// Formats replies for the wire and for logs.
#include "smtp/reply.h"

namespace mailseal::smtp {

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  return Reply{code, std::string(enhanced), std::string(text)};
}

std::string Reply::wire() const {
  std::string out;
  std::string_view rest = text;
  const std::string code_str = std::to_string(code);
  while (true) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    const bool last = nl == std::string_view::npos;
    out += code_str;
    out += last ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    // Reply text may quote a peer (a next hop's reply, a parser's complaint about a
    // header): only printable ASCII reaches the wire, so it can never forge a line end.
    for (char c : line) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    out += "\r\n";
    if (last) break;
    rest.remove_prefix(nl + 1);
  }
  return out;
}

std::string Reply::brief() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  std::string one_line = text;
  for (char& c : one_line)
    if (c == '\n') c = ' ';
  if (!one_line.empty()) out += " " + one_line;
  return out;
}

}  // namespace mailseal::smtp
