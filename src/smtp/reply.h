// An SMTP reply: basic code (RFC 5321 4.2), enhanced status code (RFC 3463) and text.
// Every refusal mailseal gives is one of these, built in one place per cause.
#pragma once

#include <string>
#include <string_view>

namespace mailseal::smtp {

struct Reply {
  int code = 0;          // 250, 451, 554 ...
  std::string enhanced;  // "2.0.0"; empty for greeting/EHLO-style replies
  std::string text;      // may contain '\n' for multi-line replies

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // Wire form with CRLF line ends; each line of a multi-line reply gets code and status.
  std::string wire() const;
  // "250 2.0.0 text" on one line, for logs.
  std::string brief() const;
};

Reply make_reply(int code, std::string_view enhanced, std::string_view text);

}  // namespace mailseal::smtp
