// `mailseal queue --config FILE list | show ID | flush | delete ID | hold ID | release ID`.
// Works on the spool files directly (so it also works while the daemon is down), then
// asks a running daemon to rescan. `show` prints the envelope, the delivery state and the
// message's header block only: the body of an inbound message is decrypted mail, which
// an operator's terminal has no business displaying.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "app/commands.h"
#include "core/config.h"
#include "queue/dsn.h"
#include "queue/spool.h"
#include "server/queue_control.h"
#include "util/utc_time.h"

namespace mailseal::app {

namespace {

using queue::Folder;

std::string when(std::int64_t t) {
  return t == 0 ? "now" : util::utc_timestamp(t);
}

std::string_view state_name(queue::RecipientState s) {
  switch (s) {
    case queue::RecipientState::pending:
      return "pending";
    case queue::RecipientState::delivered:
      return "delivered";
    case queue::RecipientState::failed:
      return "failed";
    case queue::RecipientState::reported:
      return "bounced";
  }
  return "?";
}

void print_entry(const queue::QueueHeader& h, bool held) {
  std::cout << fmt::format("{}{} {} {} bytes, arrived {}, attempts {}, next {}\n  from <{}>\n",
                           h.id, held ? " (held)" : "", queue::lane_name(h.lane), h.body_size,
                           when(h.arrival), h.attempts, when(h.next_attempt), h.sender);
  for (const auto& r : h.recipients)
    std::cout << fmt::format("  to <{}> {}{}{}\n", r.address, state_name(r.state),
                             r.last_reply.empty() ? "" : ": ", r.last_reply);
}

int run(const std::string& config_file, const std::string& action, const std::string& id) {
  auto loaded = core::load_config(config_file);
  if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&loaded)) {
    for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
    return 1;
  }
  const auto& config = std::get<core::Config>(loaded);
  queue::Spool spool(config.state_dir / "queue");
  auto notify = [&] {
    if (!server::notify_queue_daemon(spool.control_socket()))
      std::cout << "(no running daemon answered; the change applies when it starts)\n";
  };
  auto need_id = [&]() -> bool {
    if (queue::Spool::valid_id(id)) return true;
    std::cerr << "queue " << action << ": a queue id is needed (see `queue list`)\n";
    return false;
  };

  if (action == "list") {
    std::size_t messages = 0, held = 0, bytes = 0, pending = 0;
    for (auto folder : {Folder::active, Folder::hold}) {
      for (const auto& qid : spool.list(folder)) {
        std::string error;
        auto file = queue::QueueFile::open(spool.path(folder, qid), error);
        if (!file) {
          std::cout << fmt::format("{} unreadable: {}\n", qid, error);
          continue;
        }
        print_entry(file->header(), folder == Folder::hold);
        ++messages;
        held += folder == Folder::hold;
        bytes += file->header().body_size;
        for (const auto& r : file->header().recipients)
          pending += r.state == queue::RecipientState::pending;
      }
    }
    auto corrupt = spool.list(Folder::corrupt).size();
    std::cout << fmt::format(
        "-- {} messages ({} active, {} held), {} bytes, {} recipients pending{}\n", messages,
        messages - held, held, bytes, pending,
        corrupt
            ? fmt::format(", {} damaged files in {}", corrupt, (spool.dir() / "corrupt").string())
            : "");
    return 0;
  }
  if (action == "flush") {
    std::size_t n = 0;
    for (const auto& qid : spool.list(Folder::active)) {
      std::string error;
      auto file = queue::QueueFile::open(spool.path(Folder::active, qid), error);
      if (!file) continue;
      const auto& h = file->header();
      if (!file->set_schedule(h.attempts, 0, h.warned) && !file->sync()) ++n;
    }
    std::cout << fmt::format("{} messages scheduled for delivery now\n", n);
    notify();
    return 0;
  }
  if (action == "show") {
    if (!need_id()) return 1;
    for (auto folder : {Folder::active, Folder::hold}) {
      std::string error;
      auto file = queue::QueueFile::open(spool.path(folder, id), error);
      if (!file) continue;
      print_entry(file->header(), folder == Folder::hold);
      auto body = file->body();
      std::string start(std::min<std::size_t>(body.size(), 64 * 1024), '\0');
      long n = body.read_at(0, start.data(), start.size());
      start.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      std::cout << "  headers:\n" << queue::header_block(start);
      return 0;
    }
    std::cerr << "queue show: no message " << id << "\n";
    return 1;
  }
  if (action == "hold" || action == "release" || action == "delete") {
    if (!need_id()) return 1;
    bool done = false;
    if (action == "hold") done = spool.move(id, Folder::active, Folder::hold);
    if (action == "release") {
      done = spool.move(id, Folder::hold, Folder::active);
      std::string error;
      if (auto file = queue::QueueFile::open(spool.path(Folder::active, id), error)) {
        const auto& h = file->header();
        file->set_schedule(h.attempts, 0, h.warned);
        file->sync();
      }
    }
    if (action == "delete")
      done = spool.remove(id, Folder::active) || spool.remove(id, Folder::hold);
    if (!done) {
      std::cerr << fmt::format("queue {}: no {}message {}\n", action,
                               action == "release" ? "held " : "", id);
      return 1;
    }
    std::cout << fmt::format("{}: {}\n", id,
                             action == "hold"      ? "held"
                             : action == "release" ? "released"
                                                   : "deleted");
    notify();
    return 0;
  }
  std::cerr << "queue: unknown action " << action << "\n";
  return 2;
}

}  // namespace

void add_queue_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("queue", "Inspect and manage the queue (queue mode)");
  auto config = std::make_shared<std::string>();
  auto action = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *config, "Configuration file (TOML)")->required();
  cmd->add_option("action", *action, "list | show ID | flush | delete ID | hold ID | release ID")
      ->required()
      ->check(CLI::IsMember({"list", "show", "flush", "delete", "hold", "release"}));
  cmd->add_option("id", *id, "Queue id (from `queue list`)");
  cmd->callback([=, &exit_code] { exit_code = run(*config, *action, *id); });
}

}  // namespace mailseal::app
