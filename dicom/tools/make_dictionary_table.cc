// Writes DCMTK's data dictionary, as DCMTK itself parses it from the text files it was built to
// read (DCM_DICT_DEFAULT_PATH), as a C++ table that dicom/dictionary.cc installs at startup.
// Loading the text files costs a process ~15 ms of sscanf, which dominates converting a small
// series; the table costs well under a millisecond.
//
// Usage: make_dictionary_table OUTPUT.inc

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string Literal(const char* text) {
  if (text == nullptr) return "nullptr";
  std::string out = "\"";
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == '"' || *p == '\\') out += '\\';
    out += *p;
  }
  return out + "\"";
}

const char* RangeName(DcmDictRangeRestriction restriction) {
  switch (restriction) {
    case DcmDictRange_Odd:
      return "DcmDictRange_Odd";
    case DcmDictRange_Even:
      return "DcmDictRange_Even";
    case DcmDictRange_Unspecified:
      break;
  }
  return "DcmDictRange_Unspecified";
}

std::string Row(const DcmDictEntry& entry) {
  std::ostringstream row;
  row << "{0x" << std::hex << entry.getGroup() << ", 0x" << entry.getElement() << ", 0x"
      << entry.getUpperGroup() << ", 0x" << entry.getUpperElement() << std::dec << ", "
      << static_cast<int>(entry.getEVR()) << ", " << Literal(entry.getTagName()) << ", "
      << entry.getVMMin() << ", " << entry.getVMMax() << ", " << Literal(entry.getStandardVersion())
      << ", " << Literal(entry.getPrivateCreator()) << ", "
      << RangeName(entry.getGroupRangeRestriction()) << ", "
      << RangeName(entry.getElementRangeRestriction()) << "},\n";
  return row.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_dictionary_table OUTPUT.inc\n";
    return 2;
  }
  DcmDataDictionary dictionary(OFFalse, OFFalse);
  std::vector<std::string> files;
  std::istringstream paths(DCM_DICT_DEFAULT_PATH);
  for (std::string path; std::getline(paths, path, ENVIRONMENT_PATH_SEPARATOR);) {
    if (path.empty()) continue;
    if (!dictionary.loadDictionary(path.c_str())) {
      std::cerr << "make_dictionary_table: cannot load DCMTK dictionary " << path << "\n";
      return 1;
    }
    files.push_back(path);
  }
  std::ostringstream out;
  out << "// Generated at build time by dicom/tools/make_dictionary_table.cc from";
  for (const std::string& file : files) out << " " << file;
  out << ".\n// Do not edit.\n";
  out << "// {group, element, upper group, upper element, DcmEVR, name, VM min, VM max, version,\n"
         "//  private creator, group range, element range}\n";
  out << "constexpr DictionaryRow kNormalEntries[] = {\n";
  std::size_t normal = 0;
  for (auto it = dictionary.normalBegin(); it != dictionary.normalEnd(); ++it, ++normal) {
    out << Row(**it);
  }
  out << "};\n\nconstexpr DictionaryRow kRepeatingEntries[] = {\n";
  for (auto it = dictionary.repeatingBegin(); it != dictionary.repeatingEnd(); ++it) {
    out << Row(**it);
  }
  out << "};\n";
  if (normal == 0) {
    std::cerr << "make_dictionary_table: the DCMTK dictionary is empty\n";
    return 1;
  }
  std::ofstream file(argv[1], std::ios::binary | std::ios::trunc);
  file << out.str();
  if (!file.flush()) {
    std::cerr << "make_dictionary_table: cannot write " << argv[1] << "\n";
    return 1;
  }
  return 0;
}
