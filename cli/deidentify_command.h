#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary deidentify INPUT... --out DIR --key-file FILE`: offline PS3.15 de-identification.
void AddDeidentifyCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
