#include "dicom/dictionary.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>

#include <cstdint>
#include <cstdlib>
#include <iterator>

namespace tributary::dicom {
namespace {

struct DictionaryRow {
  std::uint16_t group;
  std::uint16_t element;
  std::uint16_t upper_group;
  std::uint16_t upper_element;
  int vr;
  const char* name;
  int vm_min;
  int vm_max;
  const char* version;
  const char* private_creator;
  DcmDictRangeRestriction group_range;
  DcmDictRangeRestriction element_range;
};

#include "dicom/dictionary_table.inc"

void Add(DcmDataDictionary& dictionary, const DictionaryRow& row) {
  // The strings are static, so the entries reference them instead of copying.
  auto* entry = new DcmDictEntry(row.group, row.element, row.upper_group, row.upper_element,
                                 DcmVR(static_cast<DcmEVR>(row.vr)), row.name, row.vm_min,
                                 row.vm_max, row.version, OFFalse, row.private_creator);
  entry->setGroupRangeRestriction(row.group_range);
  entry->setElementRangeRestriction(row.element_range);
  dictionary.addEntry(entry);
}

}  // namespace

std::size_t InstallCompiledDictionary() {
  if (std::getenv(DCM_DICT_ENVIRONMENT_VARIABLE) != nullptr) return 0;
  // An existing, empty file: DCMTK creates its dictionary from it (and counts it as loaded)
  // without parsing anything; the compiled entries are then added.
  ::setenv(DCM_DICT_ENVIRONMENT_VARIABLE, "/dev/null", 1);
  DcmDataDictionary& dictionary = dcmDataDict.wrlock();
  ::unsetenv(DCM_DICT_ENVIRONMENT_VARIABLE);
  std::size_t installed = 0;
  if (dictionary.numberOfEntries() == 0) {  // only the skeleton: nothing loaded yet
    for (const DictionaryRow& row : kNormalEntries) Add(dictionary, row);
    for (const DictionaryRow& row : kRepeatingEntries) Add(dictionary, row);
    installed = std::size(kNormalEntries) + std::size(kRepeatingEntries);
  }
  dcmDataDict.wrunlock();
  return installed;
}

}  // namespace tributary::dicom
