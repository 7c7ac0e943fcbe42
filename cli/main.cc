#include <CLI/CLI.hpp>

#include "cli/admin_commands.h"
#include "cli/convert_command.h"
#include "cli/deidentify_command.h"
#include "cli/keygen_command.h"
#include "cli/upload_command.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"tributary: de-identify, convert and harmonize DICOM imaging data"};
  app.set_version_flag("--version", std::string("tributary ") + tributary::kVersion);
  app.require_subcommand(1);
  int exit_code = 0;
  tributary::cli::AddKeygenCommand(app, exit_code);
  tributary::cli::AddDeidentifyCommand(app, exit_code);
  tributary::cli::AddConvertCommand(app, exit_code);
  tributary::cli::AddUploadCommand(app, exit_code);
  tributary::cli::AddAdminCommands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
