// run_daemon: wiring of listeners, relays, threads and signals.
#include "server/daemon.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "delivery/next_hop.h"
#include "net/asio.h"
#include "server/listener.h"
#include "server/password_file.h"
#include "server/queue_control.h"
#include "server/relay.h"

namespace mailseal::server {

namespace asio = net::asio;

namespace {

std::unique_ptr<asio::ssl::context> make_server_tls(const core::TlsServerConfig& tls) {
  if (!tls.enabled()) return nullptr;
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(tls.certificate.string());
  ctx->use_private_key_file(tls.key.string(), asio::ssl::context::pem);
  return ctx;
}

}  // namespace

int run_daemon(const core::Config& config, Filters filters) {
  const unsigned threads =
      config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  std::filesystem::path spill_dir = config.state_dir / "tmp";
  std::error_code ec;
  std::filesystem::create_directories(spill_dir, ec);
  if (ec) {
    spdlog::critical("cannot create {}: {}", spill_dir.string(), ec.message());
    return 1;
  }
  asio::io_context io(static_cast<int>(threads));
  asio::thread_pool crypto_pool(threads);

  std::unique_ptr<asio::ssl::context> inside_tls, outside_tls;
  try {
    inside_tls = make_server_tls(config.inside.tls);
    outside_tls = make_server_tls(config.outside.tls);
  } catch (const std::exception& e) {
    spdlog::critical("cannot load TLS certificate or key: {}", e.what());
    return 1;
  }
  std::optional<PasswordFile> inside_passwords, outside_passwords;
  for (auto [listener, target] : {std::pair{&config.inside, &inside_passwords},
                                  std::pair{&config.outside, &outside_passwords}}) {
    if (listener->auth_passwords.empty()) continue;
    std::string error;
    *target = PasswordFile::load(listener->auth_passwords, error);
    if (!*target) {
      spdlog::critical("{}: SMTP AUTH password file: {}", listener->name, error);
      return 1;
    }
  }
  // Queue: always prepared, because a DSN for a queued message travels the other lane
  // even when that side relays in proxy mode.
  queue::Spool spool(config.state_dir / "queue");
  if (auto qec = spool.prepare()) {
    spdlog::critical("cannot prepare the spool {}: {}", spool.dir().string(), qec.message());
    return 1;
  }
  std::unique_ptr<delivery::NextHop> inside_hop, outside_hop;
  try {
    inside_hop = delivery::make_next_hop(config.inside.next_hop, config.hostname, config.dns);
    outside_hop = delivery::make_next_hop(config.outside.next_hop, config.hostname, config.dns);
  } catch (const std::exception& e) {
    spdlog::critical("cannot set up the next hop: {}", e.what());
    return 1;
  }
  // The scheduler's file work (open, pwrite, fdatasync) waits on the disk, not the CPU:
  // a pool of its own, so it never queues behind public-key work (the time between a
  // next hop's 250 and its record is the window in which a crash duplicates a message).
  asio::thread_pool spool_pool(4);
  // Lane outbound = what the inside side delivers (to the Internet); inbound = outside's.
  queue::Scheduler scheduler(
      io, spool, config.queue,
      {queue::LaneRoute{inside_hop.get(), config.inside.next_hop.kind == core::NextHopKind::mx},
       queue::LaneRoute{outside_hop.get(), config.outside.next_hop.kind == core::NextHopKind::mx}},
      spool_pool, config.hostname);
  Relay inside_relay(std::move(inside_hop), filters.inside, crypto_pool,
                     QueueTarget{&spool, &scheduler, queue::Lane::outbound},
                     config.inside.mode == core::RelayMode::queue);
  Relay outside_relay(std::move(outside_hop), filters.outside, crypto_pool,
                      QueueTarget{&spool, &scheduler, queue::Lane::inbound},
                      config.outside.mode == core::RelayMode::queue);
  auto inside = std::make_shared<Listener>(
      io, ListenerContext{config, config.inside, Side::inside, inside_relay, inside_tls.get(),
                          spill_dir, inside_passwords ? &*inside_passwords : nullptr});
  auto outside = std::make_shared<Listener>(
      io, ListenerContext{config, config.outside, Side::outside, outside_relay, outside_tls.get(),
                          spill_dir, outside_passwords ? &*outside_passwords : nullptr});
  try {
    inside->bind();
    outside->bind();
  } catch (const boost::system::system_error& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }
  QueueControl control(io, spool.control_socket(), [&] { scheduler.rescan(); });
  if (auto cec = control.start())
    spdlog::warn("queue control socket {}: {} (`mailseal queue` changes apply at restart)",
                 spool.control_socket().string(), cec.message());
  scheduler.start();
  inside->start();
  outside->start();
  spdlog::info("mailseal listening: inside {}:{} -> {}, outside {}:{} -> {}", config.inside.address,
               config.inside.port, inside_relay.describe(), config.outside.address,
               config.outside.port, outside_relay.describe());

  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& err, int sig) {
    if (err) return;
    spdlog::info("signal {}: stopping; finishing transactions in flight (up to {}s)", sig,
                 config.shutdown_grace.count());
    inside->stop_accepting();
    outside->stop_accepting();
    scheduler.stop();
    control.stop();
    inside->shutdown_connections();
    outside->shutdown_connections();
    auto deadline = std::chrono::steady_clock::now() + config.shutdown_grace;
    // Wait until every connection has ended or the grace period is over.
    asio::co_spawn(
        io,
        [&, deadline]() -> asio::awaitable<void> {
          while (inside->active() + outside->active() > 0 &&
                 std::chrono::steady_clock::now() < deadline) {
            grace.expires_after(std::chrono::milliseconds(50));
            co_await grace.async_wait(asio::use_awaitable);
          }
          if (inside->active() + outside->active() > 0)
            spdlog::warn("grace period over: closing {} connections",
                         inside->active() + outside->active());
          io.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  inside->forget_connections();
  outside->forget_connections();
  crypto_pool.join();
  spool_pool.join();
  spdlog::info("mailseal stopped");
  return 0;
}

}  // namespace mailseal::server
