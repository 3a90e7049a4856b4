// `mailseal serve --config FILE`: validates the configuration (refusing to start on any
// error), sets up logging and runs the daemon until SIGTERM.
#include <iostream>

#include <spdlog/spdlog.h>
#include "app/commands.h"
#include "app/filters.h"
#include "core/config.h"
#include "observe/log.h"
#include "server/daemon.h"

namespace mailseal::app {

void add_serve_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Run the gateway");
  auto file = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &exit_code] {
    auto result = core::load_config(*file);
    if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&result)) {
      for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
      std::cerr << "mailseal: not started: the configuration has errors\n";
      exit_code = 1;
      return;
    }
    const auto& config = std::get<core::Config>(result);
    observe::init_logging(config.log_level);
    GatewayFilters filters;
    std::string error;
    if (!make_filters(config, filters, error)) {
      spdlog::critical("not started: {}", error);
      exit_code = 1;
      return;
    }
    exit_code = server::run_daemon(config, server::Filters{filters.seal.get(), filters.open.get()});
  });
}

}  // namespace mailseal::app
