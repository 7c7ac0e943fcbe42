#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary tokens create|list|revoke` and `tributary audit list` (operator token).
void AddSecurityCommands(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
