// The transaction verbs: EHLO/HELO (RFC 5321 4.1.1.1), MAIL (4.1.1.2), RCPT (4.1.1.3),
// DATA (4.1.1.4) and STARTTLS (RFC 3207). Order and limits are enforced here.
#include <charconv>

#include "smtp/session.h"
#include "util/strings.h"

namespace mailseal::smtp {

Step Session::do_ehlo(const Command& cmd, bool extended) {
  std::string_view name = util::trim(cmd.argument);
  if (name.empty() || name.find(' ') != std::string_view::npos)
    return error(
        make_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
  reset_transaction();
  phase_ = Phase::ready;
  extended_ = extended;
  client_.helo = std::string(name);
  if (!extended) return reply(make_reply(250, "", options_.hostname));
  std::string text = options_.hostname + "\nPIPELINING\nSIZE " +
                     std::to_string(options_.max_message_size) +
                     "\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES";
  if (options_.starttls_available && !client_.tls) text += "\nSTARTTLS";
  // RFC 4954 4: credentials only inside TLS, so AUTH is not even offered before it.
  if (options_.auth_available && client_.tls) text += "\nAUTH PLAIN LOGIN";
  return reply(make_reply(250, "", text));
}

std::optional<Reply> Session::check_mail_params(const PathArgument& path) {
  for (const auto& [key, value] : path.params) {
    if (key == "SIZE") {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size())
        return make_reply(501, "5.5.4", "Bad SIZE parameter");
      // RFC 1870 6.1: refuse at MAIL when the declared size is already too big.
      if (n > options_.max_message_size)
        return make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
      envelope_.declared_size = n;
    } else if (key == "BODY") {
      if (util::iequals(value, "8BITMIME")) {
        envelope_.body_8bit = true;
      } else if (!util::iequals(value, "7BIT")) {
        return make_reply(501, "5.5.4", "BODY must be 7BIT or 8BITMIME");
      }
    } else if (key == "SMTPUTF8" && value.empty()) {
      envelope_.smtputf8 = true;
    } else {
      return make_reply(555, "5.5.4", "Unsupported MAIL parameter " + util::printable(key, 40));
    }
  }
  if (!extended_ && !path.params.empty())
    return make_reply(555, "5.5.4", "MAIL parameters require EHLO");
  return std::nullopt;
}

Step Session::do_mail(const Command& cmd) {
  if (phase_ == Phase::need_helo) return error(make_reply(503, "5.5.1", "Send EHLO or HELO first"));
  if (phase_ != Phase::ready) return error(make_reply(503, "5.5.1", "Sender already given"));
  if (options_.require_tls && !client_.tls)
    return error(make_reply(530, "5.7.0", "Must issue a STARTTLS command first"));
  if (options_.auth_required && client_.auth_user.empty())
    return error(make_reply(530, "5.7.0", "Authentication required"));
  auto parsed = parse_path_argument(cmd.argument, "FROM", true, false);
  if (auto* r = std::get_if<Reply>(&parsed)) return error(*r);
  auto& path = std::get<PathArgument>(parsed);
  core::Envelope fresh;
  envelope_ = fresh;
  if (auto refusal = check_mail_params(path)) {
    envelope_ = fresh;
    return error(*refusal);
  }
  envelope_.sender = std::move(path.address);
  phase_ = Phase::have_mail;
  return reply(make_reply(250, "2.1.0", "Ok"));
}

Step Session::do_rcpt(const Command& cmd) {
  if (phase_ != Phase::have_mail && phase_ != Phase::have_rcpt)
    return error(make_reply(503, "5.5.1", "Need MAIL before RCPT"));
  auto parsed = parse_path_argument(cmd.argument, "TO", false, envelope_.smtputf8);
  if (auto* r = std::get_if<Reply>(&parsed)) return error(*r);
  auto& path = std::get<PathArgument>(parsed);
  if (!path.params.empty())
    return error(make_reply(
        555, "5.5.4",
        "Unsupported RCPT parameter " + util::printable(path.params.begin()->first, 40)));
  // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
  // Not a client error: a pipelining MTA may send many more RCPTs than our limit in one
  // batch, and counting each 452 toward max_errors would close its session mid-transaction.
  if (envelope_.recipients.size() >= options_.max_recipients)
    return reply(make_reply(452, "4.5.3", "Too many recipients"));
  if (auto refusal = policy_.check_recipient(client_, envelope_, path.address))
    return error(*refusal);
  envelope_.recipients.push_back(std::move(path.address));
  phase_ = Phase::have_rcpt;
  return reply(make_reply(250, "2.1.5", "Ok"));
}

Step Session::do_data(const Command& cmd) {
  if (!cmd.argument.empty()) return error(make_reply(501, "5.5.4", "Syntax: DATA"));
  if (phase_ == Phase::have_mail) return error(make_reply(554, "5.5.1", "No valid recipients"));
  if (phase_ != Phase::have_rcpt)
    return error(make_reply(503, "5.5.1", "Need MAIL and RCPT before DATA"));
  phase_ = Phase::in_data;
  return reply(make_reply(354, "", "End data with <CR><LF>.<CR><LF>"), Next::read_data);
}

Step Session::do_starttls(const Command& cmd) {
  if (!cmd.argument.empty()) return error(make_reply(501, "5.5.4", "Syntax: STARTTLS"));
  if (client_.tls) return error(make_reply(503, "5.5.1", "TLS already active"));
  if (!options_.starttls_available)
    return error(make_reply(502, "5.5.1", "STARTTLS not available"));
  if (phase_ == Phase::have_mail || phase_ == Phase::have_rcpt)
    return error(make_reply(503, "5.5.1", "STARTTLS not allowed inside a mail transaction"));
  return reply(make_reply(220, "2.0.0", "Ready to start TLS"), Next::start_tls);
}

}  // namespace mailseal::smtp
