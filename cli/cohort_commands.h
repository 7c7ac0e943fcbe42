#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// tributary-client's research commands (researcher or operator token): cohorts
// query|create|list|show|export and provenance show.
void AddCohortCommands(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
