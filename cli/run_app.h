#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

// Parses the command line into `app`, whose commands set `exit_code` when they run; returns the
// process exit status (2 for a usage error, 0 for --help and --version).
inline int RunApp(CLI::App& app, int argc, char** argv, const int& exit_code) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace tributary::cli
