// Session: dispatch, error counting, events from the I/O layer. The verbs that carry
// the transaction (EHLO, MAIL, RCPT, DATA, STARTTLS) are in session_verbs.cpp.
#include "smtp/session.h"

#include "util/strings.h"

namespace mailseal::smtp {

Session::Session(SessionOptions options, SessionPolicy& policy, core::ClientInfo client)
    : options_(std::move(options)), policy_(policy), client_(std::move(client)) {}

Step Session::reply(Reply r, Next next) {
  if (next == Next::close) phase_ = Phase::closed;
  return Step{r.wire(), next};
}

// An error reply caused by the client. Too many of them end the session (RFC 5321 4.3.2
// allows 421 at any time), which stops dictionary attacks and confused clients.
Step Session::error(Reply r) {
  ++errors_;
  if (errors_ > options_.max_errors) {
    Step s = reply(r);
    s.output +=
        make_reply(421, "4.7.0", options_.hostname + " Too many errors, closing connection").wire();
    s.next = Next::close;
    phase_ = Phase::closed;
    return s;
  }
  return reply(std::move(r));
}

void Session::reset_transaction() {
  envelope_ = core::Envelope{};
  if (phase_ != Phase::need_helo && phase_ != Phase::closed) phase_ = Phase::ready;
}

Step Session::greet() {
  if (auto refusal = policy_.check_connect(client_)) return reply(*refusal, Next::close);
  return reply(make_reply(220, "", options_.hostname + " ESMTP mailseal"));
}

Step Session::on_line_too_long() {
  return error(make_reply(500, "5.5.2", "Line too long"));
}

Step Session::on_line(std::string_view line) {
  if (phase_ == Phase::closed) return {};
  if (auth_step_ != AuthStep::none) return on_auth_response(line);
  for (char c : line) {
    if (c == '\0') return error(make_reply(500, "5.5.2", "NUL character in command"));
    if (c == '\r') return error(make_reply(500, "5.5.2", "Bare CR in command"));
  }
  Command cmd = parse_command(line);
  // Non-ASCII is only meaningful in MAIL/RCPT addresses under SMTPUTF8 (RFC 6531 3.3);
  // parse_path_argument checks those.
  if (cmd.verb != Verb::mail && cmd.verb != Verb::rcpt && !util::is_ascii(line))
    return error(make_reply(500, "5.5.2", "Non-ASCII character in command"));
  switch (cmd.verb) {
    case Verb::ehlo:
      return do_ehlo(cmd, true);
    case Verb::helo:
      return do_ehlo(cmd, false);
    case Verb::mail:
      return do_mail(cmd);
    case Verb::rcpt:
      return do_rcpt(cmd);
    case Verb::data:
      return do_data(cmd);
    case Verb::starttls:
      return do_starttls(cmd);
    case Verb::auth:
      return do_auth(cmd);
    default:
      return do_simple(cmd);
  }
}

Step Session::do_simple(const Command& cmd) {
  switch (cmd.verb) {
    case Verb::rset:
      if (!cmd.argument.empty()) return error(make_reply(501, "5.5.4", "Syntax: RSET"));
      reset_transaction();
      return reply(make_reply(250, "2.0.0", "Ok"));
    case Verb::noop:
      return reply(make_reply(250, "2.0.0", "Ok"));
    case Verb::quit:
      return reply(make_reply(221, "2.0.0", options_.hostname + " Bye"), Next::close);
    case Verb::vrfy:
      if (util::trim(cmd.argument).empty())
        return error(make_reply(501, "5.5.4", "Syntax: VRFY address"));
      // RFC 5321 3.5.3: 252 when we will not verify but will accept mail.
      return reply(make_reply(252, "2.5.0",
                              "Cannot VRFY user, but will accept message and attempt delivery"));
    case Verb::expn:
      return error(make_reply(502, "5.5.1", "EXPN not available"));
    case Verb::help:
      return reply(make_reply(214, "2.0.0",
                              "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP" +
                                  std::string(options_.starttls_available ? " STARTTLS" : "")));
    case Verb::bdat:
      return error(make_reply(502, "5.5.1", "BDAT not available (CHUNKING not offered)"));
    default:
      return error(make_reply(500, "5.5.2", "Command not recognized"));
  }
}

Step Session::on_data_end(DataFault fault, bool stored_ok) {
  std::optional<Reply> refusal;
  switch (fault) {
    case DataFault::too_big:
      refusal = make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
      break;
    case DataFault::line_too_long:
      refusal = make_reply(550, "5.6.0", "Message has a line longer than allowed (RFC 5322 2.1.1)");
      break;
    case DataFault::bare_line_ending:
      refusal = make_reply(550, "5.6.0",
                           "Message contains a bare CR or LF; lines must end with CRLF "
                           "(RFC 5321 2.3.8)");
      break;
    case DataFault::nul_byte:
      refusal = make_reply(550, "5.6.0", "Message contains a NUL byte");
      break;
    case DataFault::none:
      if (!stored_ok) refusal = make_reply(452, "4.3.1", "Insufficient system storage");
      break;
  }
  if (refusal) {
    reset_transaction();
    return error(*refusal);
  }
  phase_ = Phase::delivering;
  return Step{"", Next::deliver};
}

Step Session::on_delivered(const Reply& verdict) {
  reset_transaction();
  return reply(verdict);
}

void Session::on_tls_established(std::string tls_version) {
  // RFC 3207 4.2: forget everything learnt before TLS, including EHLO.
  client_.tls = true;
  client_.tls_version = std::move(tls_version);
  client_.helo.clear();
  envelope_ = core::Envelope{};
  phase_ = Phase::need_helo;
  extended_ = false;
}

Step Session::on_timeout() {
  return reply(
      make_reply(421, "4.4.2", options_.hostname + " Timeout exceeded, closing connection"),
      Next::close);
}

Step Session::on_shutdown() {
  return reply(
      make_reply(421, "4.3.2", options_.hostname + " Service shutting down, try again later"),
      Next::close);
}

std::string Session::protocol_name() const {
  // RFC 3848 (ESMTPS), RFC 6531 3.7.3 (UTF8SMTP, UTF8SMTPS).
  std::string p = envelope_.smtputf8 ? "UTF8SMTP" : (extended_ ? "ESMTP" : "SMTP");
  if (client_.tls) p += "S";
  if (!client_.auth_user.empty() && extended_) p += "A";  // RFC 3848: ESMTPSA
  return p;
}

}  // namespace mailseal::smtp
