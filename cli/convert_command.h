#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// `tributary convert INPUT... --out DIR`: DICOM series to NIfTI-1 volumes with JSON sidecars.
void AddConvertCommand(CLI::App& app, int& exit_code);

}  // namespace tributary::cli
