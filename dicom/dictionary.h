#ifndef TRIBUTARY_DICOM_DICTIONARY_H_
#define TRIBUTARY_DICOM_DICTIONARY_H_

#include <cstddef>

namespace tributary::dicom {

// Installs DCMTK's data dictionary from a table compiled into this library (generated at build
// time from the dictionary files DCMTK was built to read) instead of letting DCMTK parse those
// text files on first use, which costs every process ~15 ms.
//
// Call once at the top of main(), before any thread starts and before anything reads DICOM: it
// sets DCMDICTPATH for the moment DCMTK creates its dictionary. When DCMDICTPATH is already set,
// the operator has chosen their own dictionaries and nothing is changed. Calling it late is
// harmless: a dictionary DCMTK already loaded is kept. Returns the number of entries installed.
std::size_t InstallCompiledDictionary();

}  // namespace tributary::dicom

#endif  // TRIBUTARY_DICOM_DICTIONARY_H_
