// SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, offered only inside
// TLS. The password check itself is the policy's (SessionPolicy::check_password).
#include "smtp/session.h"
#include "util/base64.h"
#include "util/strings.h"

namespace mailseal::smtp {

Step Session::do_auth(const Command& cmd) {
  if (!options_.auth_available) return error(make_reply(502, "5.5.1", "AUTH not available"));
  if (!client_.tls)
    return error(
        make_reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  if (phase_ == Phase::need_helo || !extended_)
    return error(make_reply(503, "5.5.1", "Send EHLO first"));
  if (!client_.auth_user.empty()) return error(make_reply(503, "5.5.1", "Already authenticated"));
  if (phase_ != Phase::ready)
    return error(make_reply(503, "5.5.1", "AUTH not allowed during a mail transaction"));
  auto parts = util::split(util::trim(cmd.argument), ' ');
  std::string mechanism = util::to_lower(parts[0]);
  std::string_view initial = parts.size() > 1 ? parts[1] : std::string_view{};
  if (parts.size() > 2)
    return error(make_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  if (mechanism == "plain") {
    if (initial.empty()) {
      auth_step_ = AuthStep::plain;
      return reply(make_reply(334, "", ""));
    }
    auth_step_ = AuthStep::plain;
    return on_auth_response(initial);
  }
  if (mechanism == "login") {
    auth_step_ = AuthStep::login_user;
    if (!initial.empty()) return on_auth_response(initial);
    return reply(make_reply(334, "", util::base64_encode("Username:")));
  }
  return error(make_reply(504, "5.5.4", "Unrecognized authentication mechanism"));
}

Step Session::on_auth_response(std::string_view line) {
  const AuthStep step = auth_step_;
  if (line == "*") {
    auth_step_ = AuthStep::none;
    return error(make_reply(501, "5.7.0", "Authentication cancelled"));
  }
  auto decoded = util::base64_decode(line);
  if (!decoded) {
    auth_step_ = AuthStep::none;
    return error(make_reply(501, "5.5.2", "Cannot decode the authentication response"));
  }
  switch (step) {
    case AuthStep::plain: {
      // authzid NUL authcid NUL passwd; we only allow acting as oneself.
      auto fields = util::split(*decoded, '\0');
      auth_step_ = AuthStep::none;
      if (fields.size() != 3 || fields[1].empty() || (!fields[0].empty() && fields[0] != fields[1]))
        return error(make_reply(535, "5.7.8", "Authentication credentials invalid"));
      return finish_auth(fields[1], fields[2]);
    }
    case AuthStep::login_user:
      auth_login_user_ = *decoded;
      auth_step_ = AuthStep::login_password;
      return reply(make_reply(334, "", util::base64_encode("Password:")));
    case AuthStep::login_password: {
      auth_step_ = AuthStep::none;
      std::string user = std::move(auth_login_user_);
      auth_login_user_.clear();
      return finish_auth(user, *decoded);
    }
    case AuthStep::none:
      break;
  }
  return error(make_reply(503, "5.5.1", "Unexpected authentication response"));
}

Step Session::finish_auth(std::string_view user, std::string_view password) {
  if (user.empty() || !policy_.check_password(user, password))
    return error(make_reply(535, "5.7.8", "Authentication credentials invalid"));
  client_.auth_user = std::string(user);
  return reply(make_reply(235, "2.7.0", "Authentication successful"));
}

}  // namespace mailseal::smtp
