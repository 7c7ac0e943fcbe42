#include "dicom/deid_rule_table.h"

namespace tributary::dicom {

namespace {

constexpr DeidTableRow kRows[] = {
#include "dicom/deid_table.inc"
};

Action FromBasic(BasicAction basic) {
  switch (basic) {
    case BasicAction::kD:
    case BasicAction::kZD:
    case BasicAction::kXD:
    case BasicAction::kXZD:
      return Action::kDummy;
    case BasicAction::kZ:
    case BasicAction::kXZ:
      return Action::kEmpty;
    case BasicAction::kX:
      return Action::kRemove;
    case BasicAction::kK:
      return Action::kKeep;
    case BasicAction::kC:
      return Action::kClean;
    case BasicAction::kU:
    case BasicAction::kXZU:
      return Action::kRemapUid;
  }
  return Action::kRemove;
}

}  // namespace

bool DeidTableRow::Matches(std::uint16_t g, std::uint16_t e) const {
  if (match == TagMatch::kPrivate) return (g & 1) != 0;
  return (g & group_mask) == group && (e & element_mask) == element;
}

std::span<const DeidTableRow> DeidTableRows() { return kRows; }

// A retaining option (K) wins over a cleaning one (C); either overrides the basic action.
Action ResolveAction(const DeidTableRow& row, const DeidPolicy& policy) {
  bool clean = false;
  for (const auto& info : ProfileOptions()) {
    if (!policy.Has(info.option)) continue;
    OptionAction action = row.options[static_cast<std::size_t>(info.option)];
    if (action == OptionAction::kK) return Action::kKeep;
    if (action == OptionAction::kC) clean = true;
  }
  return clean ? Action::kClean : FromBasic(row.basic);
}

const char* ActionName(Action action) {
  switch (action) {
    case Action::kKeep:
      return "keep";
    case Action::kRemove:
      return "remove";
    case Action::kEmpty:
      return "empty";
    case Action::kDummy:
      return "dummy";
    case Action::kClean:
      return "clean";
    case Action::kRemapUid:
      return "remap-uid";
  }
  return "?";
}

DeidRuleTable::DeidRuleTable(const DeidPolicy& policy) {
  for (const DeidTableRow& row : kRows) {
    Action action = ResolveAction(row, policy);
    switch (row.match) {
      case TagMatch::kExact:
        exact_[(std::uint32_t{row.group} << 16) | row.element] = action;
        break;
      case TagMatch::kMasked:
        masked_.emplace_back(&row, action);
        break;
      case TagMatch::kPrivate:
        private_action_ = action;
        break;
    }
  }
}

std::optional<Action> DeidRuleTable::Find(std::uint16_t group, std::uint16_t element) const {
  auto it = exact_.find((std::uint32_t{group} << 16) | element);
  if (it != exact_.end()) return it->second;
  for (const auto& [row, action] : masked_) {
    if (row->Matches(group, element)) return action;
  }
  return std::nullopt;
}

}  // namespace tributary::dicom
