// mailseal: secure mail gateway. Entry point: parses the command line and runs one
// sub-command (serve, check-config, keys ...).
#include <CLI/CLI.hpp>

#include "app/cmd_keys.h"
#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"mailseal - secure mail gateway (S/MIME and OpenPGP at the organisation's edge)"};
  app.require_subcommand(1);
  int exit_code = 0;
  mailseal::app::add_serve_command(app, exit_code);
  mailseal::app::add_check_config_command(app, exit_code);
  mailseal::app::add_route_command(app, exit_code);
  mailseal::app::add_keys_command(app, exit_code);
  mailseal::app::add_queue_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
