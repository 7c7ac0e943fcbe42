#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary centres add|list` and `tributary studies list|show|duplicates`.
void AddAdminCommands(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
