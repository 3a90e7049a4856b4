// Connection: the I/O loop around smtp::Session.
#include "server/connection.h"

#include <strings.h>

#include <spdlog/spdlog.h>

#include <ctime>

#include "observe/log.h"
#include "smtp/received.h"

namespace mailseal::server {

namespace asio = net::asio;

namespace {
smtp::SessionOptions session_options(const ListenerContext& ctx, const SidePolicy& policy,
                                     const core::ClientInfo& client) {
  smtp::SessionOptions o;
  o.hostname = ctx.config.hostname;
  o.max_message_size = ctx.listener.max_message_size;
  o.max_recipients = ctx.listener.max_recipients;
  o.max_errors = ctx.listener.max_errors;
  o.starttls_available = ctx.tls != nullptr;
  o.require_tls = ctx.listener.require_tls;
  o.auth_available = ctx.passwords != nullptr && ctx.tls != nullptr;
  o.auth_required = o.auth_available && !policy.trusted_network(client);
  return o;
}
}  // namespace

Connection::Connection(net::tcp::socket socket, std::shared_ptr<Listener> listener,
                       std::string client_address, unsigned short client_port)
    : transport_(std::move(socket)),
      listener_(std::move(listener)),
      ctx_(listener_->context()),
      policy_(ctx_.side, ctx_.listener, ctx_.config.hostname, ctx_.relay.filter(), ctx_.passwords),
      session_(session_options(ctx_, policy_,
                               core::ClientInfo{client_address, client_port, "", false, ""}),
               policy_, core::ClientInfo{client_address, client_port, "", false, ""}) {}

void Connection::request_shutdown() {
  auto self = shared_from_this();
  asio::post(transport_.socket().get_executor(), [self] {
    self->shutdown_ = true;
    if (self->idle_) self->transport_.expire_now();
  });
}

net::awaitable<void> Connection::flush() {
  if (out_.empty()) co_return;
  std::string pending;
  pending.swap(out_);
  transport_.expires_after(ctx_.listener.idle_timeout);
  co_await transport_.write(pending);
}

// Reads more bytes into the line buffer. False on timeout, shutdown or disconnect.
net::awaitable<bool> Connection::read_more(std::chrono::seconds timeout) {
  char buf[16 * 1024];
  transport_.expires_after(timeout);
  std::size_t n = co_await transport_.read_some(asio::buffer(buf));
  lines_.append(std::string_view(buf, n));
  co_return true;
}

net::awaitable<smtp::Step> Connection::receive_data() {
  smtp::DataDecoder decoder({ctx_.listener.max_message_size, ctx_.listener.max_line_length,
                             ctx_.listener.bare_line_endings});
  message_id_ = new_message_id();
  data_started_ = std::chrono::steady_clock::now();
  body_ = std::make_unique<core::MessageBody>(ctx_.spill_dir);
  // One overall deadline for the DATA phase, so a client trickling bytes cannot hold
  // the session for ever (RFC 5321 4.5.3.2.6 suggests 10 minutes).
  const auto deadline = std::chrono::steady_clock::now() + ctx_.listener.data_timeout;
  std::string decoded;
  while (true) {
    std::string_view pending = lines_.pending();
    std::size_t used = decoder.feed(pending, decoded);
    lines_.consume(used);
    if (!decoded.empty()) {
      body_->append(decoded);
      decoded.clear();
    }
    if (decoder.done()) break;
    char buf[64 * 1024];
    transport_.expires_after(deadline - std::chrono::steady_clock::now());
    std::size_t n = 0;
    try {
      n = co_await transport_.read_some(asio::buffer(buf));
    } catch (const boost::system::system_error&) {
      if (!transport_.timed_out()) throw;
    }
    if (transport_.timed_out()) {
      spdlog::info("conn client={} side={} DATA timeout after {} bytes", session_.client().address,
                   ctx_.listener.name, body_->size());
      body_.reset();
      co_return session_.on_timeout();
    }
    lines_.append(std::string_view(buf, n));
  }
  co_return session_.on_data_end(decoder.fault(), body_->ok());
}

net::awaitable<smtp::Step> Connection::deliver() {
  const auto& env = session_.envelope();
  std::string received = smtp::received_header(
      session_.client(), ctx_.config.hostname, session_.protocol_name(), message_id_,
      env.recipients.size() == 1 ? env.recipients[0] : "", std::time(nullptr));
  auto outcome = co_await ctx_.relay.relay(env, session_.client(), *body_, received, message_id_);
  observe::MessageLogRecord rec;
  rec.id = message_id_;
  rec.side = ctx_.listener.name;
  rec.client = session_.client().address;
  rec.auth_user = session_.client().auth_user;
  rec.sender = env.sender;
  rec.recipients = env.recipients.size();
  rec.size = body_->size();
  rec.filter = outcome.filter_summary;
  rec.reply = outcome.reply.brief();
  rec.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - data_started_);
  observe::log_message(rec);
  body_.reset();
  co_return session_.on_delivered(outcome.reply);
}

net::awaitable<bool> Connection::start_tls() {
  co_await flush();
  // CVE-2011-0411 class: whatever the client pipelined after STARTTLS was sent in clear
  // text before the handshake and must not be executed inside TLS.
  lines_.clear();
  transport_.expires_after(ctx_.listener.idle_timeout);
  try {
    co_await transport_.tls_server_handshake(*ctx_.tls);
  } catch (const boost::system::system_error& e) {
    spdlog::info("conn client={} side={} TLS handshake failed: {}", session_.client().address,
                 ctx_.listener.name, e.code().message());
    co_return false;
  }
  session_.on_tls_established(transport_.tls_version());
  co_return true;
}

namespace {

bool is_rcpt(std::string_view line) {
  return line.size() >= 5 && strncasecmp(line.data(), "RCPT", 4) == 0 &&
         (line[4] == ' ' || line[4] == ':');
}

}  // namespace

net::awaitable<smtp::Step> Connection::on_line_on_pool(const std::string& line) {
  auto home = co_await asio::this_coro::executor;
  auto on_pool = asio::bind_executor(ctx_.relay.pool(), asio::use_awaitable);
  co_await asio::post(on_pool);
  // Only this coroutine touches session_, and it is here now, not on its strand.
  smtp::Step step = session_.on_line(line);
  co_await asio::post(home, asio::use_awaitable);
  co_return step;
}

net::awaitable<void> Connection::run() {
  transport_.start_watchdog();
  try {
    smtp::Step step = session_.greet();
    std::string line;
    while (true) {
      out_ += step.output;
      if (step.next == smtp::Next::close) break;
      if (step.next == smtp::Next::start_tls) {
        if (!co_await start_tls()) break;
      } else if (step.next == smtp::Next::read_data) {
        co_await flush();
        step = co_await receive_data();
        continue;
      } else if (step.next == smtp::Next::deliver) {
        step = co_await deliver();
        continue;
      }
      if (shutdown_) {
        step = session_.on_shutdown();
        continue;
      }
      auto res = lines_.next_line(ctx_.listener.max_command_length, line);
      if (res == smtp::LineBuffer::Result::need_more) {
        // Pipelining (RFC 2920): replies are sent once the client's batch is consumed.
        co_await flush();
        idle_ = true;
        try {
          co_await read_more(ctx_.listener.idle_timeout);
        } catch (const boost::system::system_error&) {
          idle_ = false;
          if (!transport_.timed_out()) throw;
          step = shutdown_ ? session_.on_shutdown() : session_.on_timeout();
          out_ += step.output;
          break;
        }
        idle_ = false;
        step = {};
        continue;
      }
      if (res == smtp::LineBuffer::Result::too_long) {
        step = session_.on_line_too_long();
      } else if (ctx_.relay.filter() && is_rcpt(line)) {
        step = co_await on_line_on_pool(line);
      } else {
        step = session_.on_line(line);
      }
    }
    // Best effort: the last reply (221, 421) may not reach a client that already left.
    if (!out_.empty()) {
      transport_.reset_timeout();
      transport_.expires_after(std::chrono::seconds(10));
      try {
        co_await flush();
      } catch (const boost::system::system_error&) {
      }
    }
  } catch (const boost::system::system_error& e) {
    if (body_) {
      spdlog::info("conn client={} side={} disconnected during DATA after {} bytes ({})",
                   session_.client().address, ctx_.listener.name, body_->size(),
                   transport_.timed_out() ? "timeout" : e.code().message());
    }
  } catch (const std::exception& e) {
    // Anything else would end the coroutine silently (co_spawn detached) and leak the
    // connection's slot in the listener's limits: log it and release as usual.
    spdlog::error("conn client={} side={} closed after an internal error: {}",
                  session_.client().address, ctx_.listener.name, e.what());
  }
  transport_.close();
  listener_->release(session_.client().address, this);
}

}  // namespace mailseal::server
