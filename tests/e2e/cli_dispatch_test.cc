// `tributary` runs the offline commands itself and hands the server commands to tributary-client
// (cli/remote_commands.h): both must look like one program to the user.

#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/server_process.h"

namespace tributary::testing {
namespace {

TEST(CliDispatch, HelpListsOfflineAndServerCommands) {
  CommandResult help = Shell(std::string(TRIBUTARY_CLI) + " --help");
  ASSERT_EQ(help.exit_code, 0) << help.out;
  for (const char* command : {"keygen", "deidentify", "convert", "upload", "centres", "studies"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command << " missing:\n" << help.out;
  }
}

TEST(CliDispatch, ServerCommandsTakeTheirOwnOptionsThroughTributary) {
  CommandResult upload = Shell(std::string(TRIBUTARY_CLI) + " upload --help");
  ASSERT_EQ(upload.exit_code, 0) << upload.out;
  EXPECT_NE(upload.out.find("--parallel"), std::string::npos) << upload.out;
  EXPECT_NE(upload.out.find("tributary upload"), std::string::npos) << upload.out;
  CommandResult show = Shell(std::string(TRIBUTARY_CLI) + " studies show --help");
  ASSERT_EQ(show.exit_code, 0) << show.out;
  // A usage error in a server command is reported as one, with the usage exit status.
  CommandResult bad = Shell(std::string(TRIBUTARY_CLI) + " upload --no-such-option x");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("no-such-option"), std::string::npos) << bad.out;
}

TEST(CliDispatch, VersionIsTheSameFromBothBinaries) {
  CommandResult version = Shell(std::string(TRIBUTARY_CLI) + " --version");
  ASSERT_EQ(version.exit_code, 0);
  std::string client = std::string(TRIBUTARY_CLI);
  client = client.substr(0, client.rfind('/') + 1) + "tributary-client";
  CommandResult client_version = Shell(client + " --version");
  ASSERT_EQ(client_version.exit_code, 0);
  EXPECT_EQ(version.out, client_version.out);
}

}  // namespace
}  // namespace tributary::testing
