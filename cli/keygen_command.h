#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary keygen --out FILE`: writes a new 256-bit de-identification key (mode 0600).
void AddKeygenCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
