// `tributary-client`: the commands that talk to tributary-server (remote_commands.h). Usually
// reached as `tributary
// upload|centres|studies|jobs|series|reprocess|tokens|audit|cohorts|provenance ...` and `tributary
// recipes add|assign`, `tributary models add` (or any `recipes`/`models` command given
// --server).

#include <CLI/CLI.hpp>
#include <string>

#include "cli/admin_commands.h"
#include "cli/cohort_commands.h"
#include "cli/harmonization_commands.h"
#include "cli/run_app.h"
#include "cli/security_commands.h"
#include "cli/upload_command.h"
#include "common/version.h"
#include "dicom/dictionary.h"

int main(int argc, char** argv) {
  tributary::dicom::InstallCompiledDictionary();  // upload probes files with DCMTK
  CLI::App app{"tributary (server commands): upload DICOM and administer tributary-server",
               "tributary"};
  app.set_version_flag("--version", std::string("tributary ") + tributary::kVersion);
  app.require_subcommand(1);
  int exit_code = 0;
  tributary::cli::AddUploadCommand(app, exit_code);
  tributary::cli::AddAdminCommands(app, exit_code);
  tributary::cli::AddHarmonizationCommands(app, exit_code);
  tributary::cli::AddSecurityCommands(app, exit_code);
  tributary::cli::AddCohortCommands(app, exit_code);
  return tributary::cli::RunApp(app, argc, argv, exit_code);
}
