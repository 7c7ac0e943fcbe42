#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary harmonize INPUT... --recipe R [--model F] --out DIR`: the workers' harmonization,
// offline.
void AddHarmonizeCommand(CLI::App& app, int& exit_code);

// `tributary models train --method nyul --recipe R --out FILE INPUT...`.
void AddModelsCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
