#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary recipes list` and `recipes show NAME|FILE`, offline on the built-in recipes and
// recipe files.
void AddRecipesCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
