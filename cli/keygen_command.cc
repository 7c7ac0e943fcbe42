#include "cli/keygen_command.h"

#include <iostream>
#include <memory>

#include "common/secret_key.h"

namespace tributary::cli {

void AddKeygenCommand(CLI::App& app, int& exit_code) {
  auto out = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "keygen", "Write a new 256-bit de-identification key to a file readable by its owner only");
  command->add_option("--out", *out, "Key file to create (refuses to overwrite)")->required();
  command->callback([out, &exit_code] {
    absl::Status status = SecretKey::Generate().WriteNewFile(*out);
    if (!status.ok()) {
      std::cerr << "tributary keygen: " << status.message() << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "wrote a new key to " << *out << " (mode 0600); keep it secret and backed up: "
              << "the same key is needed to keep pseudonyms and UIDs stable across runs\n";
  });
}

}  // namespace tributary::cli
