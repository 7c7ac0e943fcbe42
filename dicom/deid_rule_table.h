#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "dicom/deid_profile.h"

namespace tributary::dicom {

// Table E.1-1 action codes as the table writes them.
enum class BasicAction { kD, kZ, kX, kK, kC, kU, kZD, kXZ, kXD, kXZD, kXZU };
enum class OptionAction { kNone, kK, kC };
enum class TagMatch { kExact, kMasked, kPrivate };

// One row of the project's rule table (dicom/deid_table.inc, generated from the standard's CSV).
struct DeidTableRow {
  TagMatch match;
  std::uint16_t group, group_mask, element, element_mask;
  const char* keyword;
  const char* edition;
  BasicAction basic;
  std::array<OptionAction, kProfileOptionCount> options;

  bool Matches(std::uint16_t g, std::uint16_t e) const;
};

std::span<const DeidTableRow> DeidTableRows();

// What the engine does to one attribute once the options are applied. Combined codes resolve to
// the choice that is conformant whatever the attribute's type in the IOD: X/Z -> Z, Z/D, X/D,
// X/Z/D -> D, X/Z/U* -> U.
enum class Action { kKeep, kRemove, kEmpty, kDummy, kClean, kRemapUid };

Action ResolveAction(const DeidTableRow& row, const DeidPolicy& policy);
const char* ActionName(Action action);

// The table resolved for one policy, indexed for lookups per attribute.
class DeidRuleTable {
 public:
  explicit DeidRuleTable(const DeidPolicy& policy);

  // nullopt: the attribute is not in Table E.1-1 (standard attributes not listed are kept).
  std::optional<Action> Find(std::uint16_t group, std::uint16_t element) const;
  Action private_action() const { return private_action_; }

 private:
  std::unordered_map<std::uint32_t, Action> exact_;
  std::vector<std::pair<const DeidTableRow*, Action>> masked_;
  Action private_action_ = Action::kRemove;
};

}  // namespace tributary::dicom
