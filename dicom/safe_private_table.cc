#include "dicom/safe_private_table.h"

namespace tributary::dicom {

std::span<const SafePrivateTableRow> SafePrivateTableRows() {
  static constexpr SafePrivateTableRow kRows[] = {
#include "dicom/safe_private_table.inc"
  };
  return kRows;
}

}  // namespace tributary::dicom
