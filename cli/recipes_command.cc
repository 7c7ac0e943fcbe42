#include "cli/recipes_command.h"

#include <iostream>

#include "normalize/recipe.h"

namespace tributary::cli {

void AddRecipesCommand(CLI::App& app, int& exit_code) {
  CLI::App* recipes = app.add_subcommand("recipes", "Harmonization recipes (docs/RECIPES.md)");
  recipes->require_subcommand(1);
  recipes->add_subcommand("list", "The built-in recipes, with their SHA-256")
      ->callback([&exit_code] {
        for (const std::string& name : normalize::BuiltinRecipeNames()) {
          absl::StatusOr<normalize::Recipe> recipe = normalize::BuiltinRecipe(name);
          if (!recipe.ok()) {
            std::cerr << "tributary recipes list: " << name << ": " << recipe.status().message()
                      << "\n";
            exit_code = 1;
            continue;
          }
          std::cout << name << "  " << normalize::RecipeSha256(*recipe) << "\n";
        }
      });
  auto name = std::make_shared<std::string>();
  CLI::App* show = recipes->add_subcommand(
      "show", "A recipe as its canonical document (every default filled in) and its SHA-256");
  show->add_option("recipe", *name, "Built-in name or recipe file")->required();
  show->callback([name, &exit_code] {
    absl::StatusOr<normalize::Recipe> recipe = normalize::LoadRecipe(*name);
    if (!recipe.ok()) {
      std::cerr << "tributary recipes show: " << *name << ": " << recipe.status().message() << "\n";
      exit_code = 2;
      return;
    }
    std::cout << normalize::RecipeJson(*recipe) << "\n"
              << "sha256: " << normalize::RecipeSha256(*recipe) << "\n";
  });
}

}  // namespace tributary::cli
