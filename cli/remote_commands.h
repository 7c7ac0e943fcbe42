#pragma once

#include <string_view>

namespace tributary::cli {

// The commands that talk to tributary-server over gRPC. They live in a second binary,
// tributary-client, next to tributary: the offline commands (keygen, deidentify, convert) then
// start without loading gRPC, Protocol Buffers and their ~35 libraries, which cost a process
// ~10 ms before main(). `tributary upload ...` runs `tributary-client upload ...` (git-style
// dispatch), so both spellings work and take the same options.
struct RemoteCommand {
  const char* name;
  const char* description;
};

inline constexpr RemoteCommand kRemoteCommands[] = {
    {"upload",
     "Upload DICOM files or folders to tributary-server (resumable; de-identified by the server)"},
    {"centres", "Centres that upload (operator token)"},
    {"studies", "Stored studies (operator: all centres; a centre: its own)"},
    {"jobs", "The harmonization queue: list, retry, wait (operator token)"},
    {"series", "Stored series and their harmonized derivations; download them (operator token)"},
    {"reprocess", "Queue harmonization with a recipe for a series, study or centre (operator)"},
    {"tokens", "Create, list and revoke tokens of the three roles (operator token)"},
    {"audit", "The audit log of every call (operator token)"},
    {"cohorts",
     "Research cohorts: query harmonized volumes, freeze, list, show and export them as BIDS "
     "(researcher or operator token)"},
    {"provenance", "The lineage of a file, series, derivation or cohort (researcher or operator)"},
};

// Commands that run offline in `tributary` but have subcommands that talk to the server: those
// (and any of them given `--server`) go to tributary-client like the commands above.
struct RemoteSubcommand {
  const char* command;
  const char* subcommand;
};

inline constexpr RemoteSubcommand kRemoteSubcommands[] = {
    {"recipes", "add"},
    {"recipes", "assign"},
    {"models", "add"},
};

inline constexpr char kClientBinary[] = "tributary-client";

// The description of a remote command, for both binaries' help.
constexpr const char* RemoteCommandDescription(std::string_view name) {
  for (const RemoteCommand& command : kRemoteCommands) {
    if (name == command.name) return command.description;
  }
  return "";
}

}  // namespace tributary::cli
