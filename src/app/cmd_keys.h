// `mailseal keys ...`: the operator's key-management commands over keys::KeyAdmin.
#pragma once

#include <CLI/CLI.hpp>

namespace mailseal::app {

// Registers `keys` and its sub-commands on `app`; sets exit_code to 1 (after printing one
// line to stderr) when the chosen command fails.
void add_keys_command(CLI::App& app, int& exit_code);

}  // namespace mailseal::app
