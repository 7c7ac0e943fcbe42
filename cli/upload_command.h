#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary upload PATH... --server ADDR --token TOKEN [--parallel N] [--complete]`.
void AddUploadCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
