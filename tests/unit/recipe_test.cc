// normalize/recipe: parsing, validation messages, the canonical form and its hash, built-ins.
#include "normalize/recipe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tributary {
namespace {

using normalize::ParseRecipe;
using normalize::Recipe;

constexpr const char* kMinimal = R"({"name": "t", "version": 1, "modality": "MR"})";

std::string ErrorOf(const std::string& json) {
  absl::StatusOr<Recipe> recipe = ParseRecipe(json);
  EXPECT_FALSE(recipe.ok()) << json;
  return recipe.ok() ? "" : std::string(recipe.status().message());
}

TEST(Recipe, MinimalDocumentGetsDefaults) {
  absl::StatusOr<Recipe> recipe = ParseRecipe(kMinimal);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->name, "t");
  EXPECT_EQ(recipe->modality, Recipe::Modality::kMr);
  EXPECT_EQ(recipe->orientation, Recipe::Orientation::kNone);
  EXPECT_FALSE(recipe->spacing.target_mm.has_value());
  EXPECT_EQ(recipe->spacing.interpolator, normalize::Interpolator::kLinear);
  EXPECT_TRUE(recipe->spacing.anti_alias);
  EXPECT_EQ(recipe->intensity.method, Recipe::IntensityMethod::kNone);
  EXPECT_FALSE(recipe->intensity.clip.has_value());
  EXPECT_EQ(recipe->background, 0);
}

TEST(Recipe, CtDefaultsForClipAndBackground) {
  absl::StatusOr<Recipe> recipe = ParseRecipe(
      R"({"name": "c", "version": 2, "modality": "CT", "spacing": {"target_mm": 1.5}})");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->background, -1024);
  ASSERT_TRUE(recipe->intensity.clip.has_value());
  EXPECT_EQ(*recipe->intensity.clip, (std::array<double, 2>{-1024, 3071}));
  ASSERT_TRUE(recipe->spacing.target_mm.has_value());
  EXPECT_EQ(*recipe->spacing.target_mm, (std::array<double, 3>{1.5, 1.5, 1.5}));
}

struct BadRecipe {
  const char* json;
  const char* message;
};

void PrintTo(const BadRecipe& bad, std::ostream* os) { *os << bad.json; }

class RecipeErrors : public ::testing::TestWithParam<BadRecipe> {};

TEST_P(RecipeErrors, NameTheField) { EXPECT_EQ(ErrorOf(GetParam().json), GetParam().message); }

INSTANTIATE_TEST_SUITE_P(
    Table, RecipeErrors,
    ::testing::Values(
        BadRecipe{"{", "recipe: not valid JSON"}, BadRecipe{"[1]", "recipe: must be an object"},
        BadRecipe{R"({"version": 1, "modality": "MR"})", "name: missing"},
        BadRecipe{R"({"name": "", "version": 1, "modality": "MR"})", "name: must not be empty"},
        BadRecipe{R"({"name": "t", "version": 0, "modality": "MR"})", "version: must be >= 1"},
        BadRecipe{R"({"name": "t", "version": 1.5, "modality": "MR"})",
                  "version: must be an integer"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "US"})",
                  "modality: unknown value \"US\" (CT, MR, PT, any)"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "colour": 1})",
                  "colour: unknown field"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "orientation": {"mode": "x"}})",
                  "orientation.mode: unknown value \"x\" (none, lossless, resampled)"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"target_mm": 0}})",
                  "spacing.target_mm: must be > 0"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"target_mm": [1, -1, 1]}})",
            "spacing.target_mm: must be > 0"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"target_mm": [1, 1]}})",
            "spacing.target_mm: must be an array of 3 numbers"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"target_mm": [1, "a", 1]}})",
            "spacing.target_mm[1]: must be a number"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"step": 1}})",
                  "spacing.step: unknown field"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"interpolator": "cubic"}})",
            "spacing.interpolator: unknown value \"cubic\" (linear, bspline, nearest)"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "spacing": {"anti_alias": 1}})",
                  "spacing.anti_alias: must be true or false"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"method": "zscor"}})",
            "intensity.method: unknown value \"zscor\" (none, ct-hu, zscore, percentile, nyul, "
            "suvbw)"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"mask": "li"}})",
                  "intensity.mask: unknown value \"li\" (otsu, mean, none)"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"percentiles": [99, 1]}})",
            "intensity.percentiles: must satisfy 0 <= low < high <= 100"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"clip": [5, 5]}})",
                  "intensity.clip: must satisfy lo < hi"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"method": "nyul", "model": "abc"}})",
            "intensity.model: must be 64 lowercase hexadecimal digits"},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"method": "zscore", "model": "0000000000000000000000000000000000000000000000000000000000000000"}})",
            "intensity.model: only for method \"nyul\""},
        BadRecipe{
            R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"method": "ct-hu"}})",
            "intensity.method: \"ct-hu\" needs modality CT or any"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "intensity": {"n4": "yes"}})",
                  "intensity.n4: must be true or false"},
        BadRecipe{R"({"name": "t", "version": 1, "modality": "MR", "background": "air"})",
                  "background: must be a number"}));

TEST(Recipe, CanonicalFormIsSortedCompactAndComplete) {
  absl::StatusOr<Recipe> recipe = ParseRecipe(kMinimal);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(normalize::CanonicalJson(*recipe),
            R"({"background":0.0,"intensity":{"clip":null,"mask":"none","method":"none",)"
            R"("model":null,"n4":false,"percentiles":[1.0,99.0]},"modality":"MR","name":"t",)"
            R"("orientation":{"mode":"none"},"spacing":{"anti_alias":true,"interpolator":"linear",)"
            R"("target_mm":null},"version":1})");
}

TEST(Recipe, HashStableUnderKeyOrderAndWhitespace) {
  absl::StatusOr<Recipe> a = ParseRecipe(
      R"({"name":"x","version":3,"modality":"MR","spacing":{"target_mm":1,"interpolator":"bspline"}})");
  absl::StatusOr<Recipe> b = ParseRecipe(R"(
    {
      "spacing": { "interpolator": "bspline", "target_mm": [1.0, 1.0, 1.0] },
      "modality": "MR",   "version": 3,
      "name": "x",
      "intensity": {}
    })");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(normalize::CanonicalJson(*a), normalize::CanonicalJson(*b));
  EXPECT_EQ(normalize::RecipeSha256(*a), normalize::RecipeSha256(*b));
  EXPECT_EQ(normalize::RecipeSha256(*a).size(), 64u);

  absl::StatusOr<Recipe> c = ParseRecipe(
      R"({"name":"x","version":3,"modality":"MR","spacing":{"target_mm":1.01,"interpolator":"bspline"}})");
  absl::StatusOr<Recipe> d = ParseRecipe(
      R"({"name":"x","version":4,"modality":"MR","spacing":{"target_mm":1,"interpolator":"bspline"}})");
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_NE(normalize::RecipeSha256(*a), normalize::RecipeSha256(*c));
  EXPECT_NE(normalize::RecipeSha256(*a), normalize::RecipeSha256(*d));
}

TEST(Recipe, CanonicalAndPrettyFormsParseBackToTheSameRecipe) {
  for (const std::string& name : normalize::BuiltinRecipeNames()) {
    absl::StatusOr<Recipe> recipe = normalize::BuiltinRecipe(name);
    ASSERT_TRUE(recipe.ok()) << name << ": " << recipe.status();
    absl::StatusOr<Recipe> again = ParseRecipe(normalize::CanonicalJson(*recipe));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(normalize::CanonicalJson(*again), normalize::CanonicalJson(*recipe));
    absl::StatusOr<Recipe> pretty = ParseRecipe(normalize::RecipeJson(*recipe));
    ASSERT_TRUE(pretty.ok()) << pretty.status();
    EXPECT_EQ(normalize::RecipeSha256(*pretty), normalize::RecipeSha256(*recipe));
  }
}

TEST(Recipe, BuiltinsAreTheDocumentedOnes) {
  EXPECT_EQ(normalize::BuiltinRecipeNames(),
            (std::vector<std::string>{"ct-default", "mr-default", "pet-default"}));
  absl::StatusOr<Recipe> ct = normalize::BuiltinRecipe("ct-default");
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(ct->modality, Recipe::Modality::kCt);
  EXPECT_EQ(ct->orientation, Recipe::Orientation::kLossless);
  EXPECT_EQ(*ct->spacing.target_mm, (std::array<double, 3>{1, 1, 1}));
  EXPECT_EQ(ct->intensity.method, Recipe::IntensityMethod::kCtHu);
  EXPECT_EQ(*ct->intensity.clip, (std::array<double, 2>{-1024, 3071}));
  EXPECT_EQ(ct->background, -1024);

  absl::StatusOr<Recipe> mr = normalize::BuiltinRecipe("mr-default");
  ASSERT_TRUE(mr.ok()) << mr.status();
  EXPECT_EQ(mr->intensity.method, Recipe::IntensityMethod::kZscore);
  EXPECT_EQ(mr->intensity.mask, Recipe::Mask::kOtsu);
  EXPECT_FALSE(mr->intensity.n4);
  EXPECT_EQ(*mr->spacing.target_mm, (std::array<double, 3>{1, 1, 1}));

  absl::StatusOr<Recipe> pet = normalize::BuiltinRecipe("pet-default");
  ASSERT_TRUE(pet.ok()) << pet.status();
  EXPECT_EQ(pet->modality, Recipe::Modality::kPt);
  EXPECT_EQ(pet->intensity.method, Recipe::IntensityMethod::kSuvbw);
  EXPECT_EQ(*pet->spacing.target_mm, (std::array<double, 3>{2, 2, 2}));
  EXPECT_EQ(pet->spacing.interpolator, normalize::Interpolator::kLinear);
  EXPECT_EQ(pet->background, 0);

  EXPECT_EQ(normalize::BuiltinRecipe("ct-defualt").status().code(), absl::StatusCode::kNotFound);
}

TEST(Recipe, LoadRecipeTakesANameOrAFile) {
  absl::StatusOr<Recipe> named = normalize::LoadRecipe("mr-default");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->name, "mr-default");

  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("recipe_test_" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << R"({"name": "file", "version": 1, "modality": "PT", "spacing": {"x": 1}})";
  absl::StatusOr<Recipe> bad = normalize::LoadRecipe(path.string());
  EXPECT_EQ(bad.status().message(), path.string() + ": spacing.x: unknown field");
  std::ofstream(path) << R"({"name": "file", "version": 1, "modality": "PT"})";
  absl::StatusOr<Recipe> good = normalize::LoadRecipe(path.string());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->name, "file");
  std::filesystem::remove(path);
  EXPECT_EQ(normalize::LoadRecipe(path.string()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tributary
