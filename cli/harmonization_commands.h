#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// tributary-client's harmonization commands (operator token): jobs list|retry|wait, series
// list|show, recipes list|show|add|assign (the server's), models add, reprocess.
void AddHarmonizationCommands(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
