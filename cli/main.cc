// `tributary`: the offline commands, and the door to the client commands (remote_commands.h).

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/convert_command.h"
#include "cli/deidentify_command.h"
#include "cli/harmonize_command.h"
#include "cli/keygen_command.h"
#include "cli/recipes_command.h"
#include "cli/remote_commands.h"
#include "cli/run_app.h"
#include "common/version.h"
#include "dicom/dictionary.h"

namespace {

bool IsRemoteCommand(int argc, char** argv) {
  std::string_view name = argv[1];
  for (const auto& command : tributary::cli::kRemoteCommands) {
    if (name == command.name) return true;
  }
  for (const auto& remote : tributary::cli::kRemoteSubcommands) {
    if (name != remote.command) continue;
    for (int i = 2; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--server" || (i == 2 && arg == remote.subcommand)) return true;
    }
  }
  return false;
}

// Replaces this process with tributary-client from the same folder (or PATH), same arguments.
int RunClient(int argc, char** argv) {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  std::filesystem::path client = self.parent_path() / tributary::cli::kClientBinary;
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  if (!error && std::filesystem::exists(client)) {
    std::string path = client.string();
    args[0] = path.data();
    ::execv(path.c_str(), args.data());
  } else {
    std::string name = tributary::cli::kClientBinary;
    args[0] = name.data();
    ::execvp(name.c_str(), args.data());
  }
  std::cerr << "tributary " << argv[1] << ": cannot run " << tributary::cli::kClientBinary
            << " (looked next to " << (error ? std::string("this binary") : self.string())
            << " and on PATH): " << std::strerror(errno) << "\n";
  return 127;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && IsRemoteCommand(argc, argv)) return RunClient(argc, argv);
  tributary::dicom::InstallCompiledDictionary();
  CLI::App app{"tributary: de-identify, convert and harmonize DICOM imaging data"};
  app.set_version_flag("--version", std::string("tributary ") + tributary::kVersion);
  app.require_subcommand(1);
  int exit_code = 0;
  tributary::cli::AddKeygenCommand(app, exit_code);
  tributary::cli::AddDeidentifyCommand(app, exit_code);
  tributary::cli::AddConvertCommand(app, exit_code);
  tributary::cli::AddHarmonizeCommand(app, exit_code);
  tributary::cli::AddModelsCommand(app, exit_code);
  tributary::cli::AddRecipesCommand(app, exit_code);
  // Listed for --help; never parsed here (see RunClient).
  for (const auto& command : tributary::cli::kRemoteCommands) {
    app.add_subcommand(command.name, command.description)->group("Server commands");
  }
  return tributary::cli::RunApp(app, argc, argv, exit_code);
}
