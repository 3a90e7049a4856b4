// The `mailseal` sub-commands. Each registers itself on the CLI11 app and sets the exit
// code when it runs; main.cpp only parses.
#pragma once

#include <CLI/CLI.hpp>

namespace mailseal::app {

void add_serve_command(CLI::App& app, int& exit_code);
void add_check_config_command(CLI::App& app, int& exit_code);
// `route`: how direct MX delivery would go (DNS, DNSSEC, DANE); see cmd_route.cpp.
void add_route_command(CLI::App& app, int& exit_code);
void add_queue_command(CLI::App& app, int& exit_code);

}  // namespace mailseal::app
