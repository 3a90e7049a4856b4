// Splits one SMTP command line into verb and argument (RFC 5321 4.1.1), and parses the
// MAIL/RCPT argument into a path and ESMTP parameters (RFC 5321 4.1.2). No I/O, no state.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "smtp/reply.h"

namespace mailseal::smtp {

enum class Verb {
  ehlo,
  helo,
  mail,
  rcpt,
  data,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  starttls,
  bdat,
  auth,
  unknown
};

struct Command {
  Verb verb = Verb::unknown;
  std::string_view verb_text;  // as sent, for "command not recognised" replies
  std::string_view argument;   // everything after the verb and one space
};

Command parse_command(std::string_view line);

// "FROM:<a@b> SIZE=10" / "TO:<c@d>"; keyword is "FROM" or "TO".
struct PathArgument {
  std::string address;                        // without <>; empty = null reverse-path
  std::map<std::string, std::string> params;  // keyword upper-cased -> value ("" if none)
};

// Parses the argument of MAIL (keyword "FROM") or RCPT ("TO"). `utf8_allowed` is true when
// the transaction declared SMTPUTF8 (RFC 6531); for MAIL the caller passes true if the
// argument itself carries SMTPUTF8. Returns the exact refusal on bad syntax.
std::variant<PathArgument, Reply> parse_path_argument(std::string_view argument,
                                                      std::string_view keyword,
                                                      bool null_path_allowed, bool utf8_allowed);

// Mailbox syntax check (RFC 5321 4.1.2 / RFC 6531 3.3); limits of RFC 5321 4.5.3.1.
bool valid_mailbox(std::string_view address, bool utf8_allowed);
bool valid_utf8(std::string_view s);
// The domain part of an address, or "" (e.g. "postmaster").
std::string_view domain_of(std::string_view address);

}  // namespace mailseal::smtp
