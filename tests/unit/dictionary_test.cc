// The compiled-in DCMTK dictionary must be exactly the one DCMTK parses from its text files. This
// is its own test binary: the global dictionary is created once per process, and here nothing may
// touch it before InstallCompiledDictionary().

#include "dicom/dictionary.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace tributary::dicom {
namespace {

std::string Describe(const DcmDictEntry& e) {
  auto text = [](const char* s) { return s == nullptr ? std::string("<null>") : std::string(s); };
  return e.getKey().toString().c_str() + std::string("-") + e.getUpperKey().toString().c_str() +
         " " + e.getVR().getVRName() + " " + text(e.getTagName()) + " vm " +
         std::to_string(e.getVMMin()) + "-" + std::to_string(e.getVMMax()) + " " +
         text(e.getStandardVersion()) + " creator " + text(e.getPrivateCreator()) + " ranges " +
         std::to_string(e.getGroupRangeRestriction()) + "/" +
         std::to_string(e.getElementRangeRestriction());
}

TEST(CompiledDictionary, IsEntryForEntryWhatDcmtkParsesFromItsFiles) {
  ::unsetenv(DCM_DICT_ENVIRONMENT_VARIABLE);
  const std::size_t installed = InstallCompiledDictionary();
  ASSERT_GT(installed, 5000u) << "the global dictionary was not installed from the table";
  EXPECT_EQ(std::getenv(DCM_DICT_ENVIRONMENT_VARIABLE), nullptr) << "environment left changed";

  DcmDataDictionary parsed(OFFalse, OFTrue);  // DCMTK's own reading of DCM_DICT_DEFAULT_PATH
  ASSERT_TRUE(parsed.isDictionaryLoaded());
  const DcmDataDictionary& global = dcmDataDict.rdlock();
  EXPECT_EQ(global.numberOfNormalTagEntries(), parsed.numberOfNormalTagEntries());
  EXPECT_EQ(global.numberOfRepeatingTagEntries(), parsed.numberOfRepeatingTagEntries());
  int compared = 0;
  for (auto it = parsed.normalBegin(); it != parsed.normalEnd(); ++it) {
    const DcmDictEntry* entry = global.findEntry((*it)->getKey(), (*it)->getPrivateCreator());
    ASSERT_NE(entry, nullptr) << Describe(**it);
    EXPECT_EQ(Describe(*entry), Describe(**it));
    ++compared;
  }
  std::vector<std::string> parsed_repeating;
  std::vector<std::string> global_repeating;
  for (auto it = parsed.repeatingBegin(); it != parsed.repeatingEnd(); ++it) {
    parsed_repeating.push_back(Describe(**it));
  }
  auto& mutable_global = const_cast<DcmDataDictionary&>(global);
  for (auto it = mutable_global.repeatingBegin(); it != mutable_global.repeatingEnd(); ++it) {
    global_repeating.push_back(Describe(**it));
  }
  dcmDataDict.rdunlock();
  EXPECT_GT(compared, 5000);
  EXPECT_EQ(global_repeating, parsed_repeating);  // same entries, same lookup order
}

TEST(CompiledDictionary, LeavesAnOperatorsDictionaryPathAlone) {
  ::setenv(DCM_DICT_ENVIRONMENT_VARIABLE, "/usr/share/libdcmtk17/dicom.dic", 1);
  EXPECT_EQ(InstallCompiledDictionary(), 0u);
  EXPECT_STREQ(std::getenv(DCM_DICT_ENVIRONMENT_VARIABLE), "/usr/share/libdcmtk17/dicom.dic");
  ::unsetenv(DCM_DICT_ENVIRONMENT_VARIABLE);
}

}  // namespace
}  // namespace tributary::dicom
