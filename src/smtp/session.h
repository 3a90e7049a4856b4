// The server side of one SMTP session as a pure state machine (RFC 5321 4.1, 4.3.2):
// it is fed command lines and events and answers with replies and what the I/O layer
// must do next. It never touches a socket, a clock or a key, so every rule is unit-tested
// in memory. Policy (who may send, which recipients are accepted) comes through
// SessionPolicy; what happens to an accepted message is the I/O layer's job (Next::deliver).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/envelope.h"
#include "smtp/command.h"
#include "smtp/data_decoder.h"
#include "smtp/reply.h"

namespace mailseal::smtp {

struct SessionOptions {
  std::string hostname = "localhost";
  std::size_t max_message_size = 50 * 1024 * 1024;
  std::size_t max_recipients = 1000;
  std::size_t max_errors = 10;  // error replies before the session is closed with 421
  bool starttls_available = false;
  bool require_tls = false;     // MAIL refused (530 5.7.0) until STARTTLS
  bool auth_available = false;  // AUTH PLAIN/LOGIN offered, inside TLS only (RFC 4954)
  bool auth_required = false;   // this client must authenticate before MAIL (530 5.7.0)
};

class SessionPolicy {
 public:
  virtual ~SessionPolicy() = default;
  // A reply refuses the connection (sent instead of the greeting, then close).
  virtual std::optional<Reply> check_connect(const core::ClientInfo&) { return std::nullopt; }
  // SMTP AUTH: true if the password is right for the user.
  virtual bool check_password(std::string_view /*user*/, std::string_view /*password*/) {
    return false;
  }
  // A reply refuses this recipient; nullopt accepts it.
  virtual std::optional<Reply> check_recipient(const core::ClientInfo& client,
                                               const core::Envelope& envelope,
                                               const std::string& recipient) = 0;
};

enum class Next {
  none,       // read the next command
  start_tls,  // discard buffered input, do the TLS handshake, then on_tls_established()
  read_data,  // read the DATA stream, then on_data_end()
  deliver,    // filter and relay the message, then on_delivered()
  close       // flush output and close the connection
};

struct Step {
  std::string output;  // wire bytes to send (zero or more replies)
  Next next = Next::none;
};

class Session {
 public:
  Session(SessionOptions options, SessionPolicy& policy, core::ClientInfo client);

  Step greet();
  Step on_line(std::string_view line);  // one command line, CRLF removed
  Step on_line_too_long();              // the I/O layer discarded an over-long line
  Step on_data_end(DataFault fault, bool stored_ok);
  Step on_delivered(const Reply& verdict);
  void on_tls_established(std::string tls_version);
  Step on_timeout();
  Step on_shutdown();

  const core::Envelope& envelope() const { return envelope_; }
  const core::ClientInfo& client() const { return client_; }
  const SessionOptions& options() const { return options_; }
  // "ESMTP", "ESMTPS", "UTF8SMTPS" ... for the Received header (RFC 3848, RFC 6531 3.7.3).
  std::string protocol_name() const;

 private:
  enum class Phase { need_helo, ready, have_mail, have_rcpt, in_data, delivering, closed };

  Step reply(Reply r, Next next = Next::none);
  Step error(Reply r);
  void reset_transaction();

  Step do_ehlo(const Command& cmd, bool extended);
  Step do_mail(const Command& cmd);
  Step do_rcpt(const Command& cmd);
  Step do_data(const Command& cmd);
  Step do_starttls(const Command& cmd);
  Step do_auth(const Command& cmd);
  Step on_auth_response(std::string_view line);
  Step finish_auth(std::string_view user, std::string_view password);
  Step do_simple(const Command& cmd);
  std::optional<Reply> check_mail_params(const PathArgument& path);

  SessionOptions options_;
  SessionPolicy& policy_;
  core::ClientInfo client_;
  core::Envelope envelope_;
  Phase phase_ = Phase::need_helo;
  bool extended_ = false;
  enum class AuthStep { none, plain, login_user, login_password } auth_step_ = AuthStep::none;
  std::string auth_login_user_;
  std::size_t errors_ = 0;
};

}  // namespace mailseal::smtp
