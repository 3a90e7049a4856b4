// `mailseal check-config FILE`: prints every error as file:line: reason; exit 1 if any.
#include <iostream>

#include "app/commands.h"
#include "core/config.h"

namespace mailseal::app {

void add_check_config_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("check-config", "Validate a configuration file");
  auto file = std::make_shared<std::string>();
  cmd->add_option("file", *file, "Configuration file (TOML)")->required();
  cmd->callback([file, &exit_code] {
    auto result = core::load_config(*file);
    if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&result)) {
      for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
      exit_code = 1;
      return;
    }
    std::cout << *file << ": ok\n";
  });
}

}  // namespace mailseal::app
