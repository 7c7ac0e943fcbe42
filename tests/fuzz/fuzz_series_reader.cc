// libFuzzer target over volume reconstruction, what `tributary convert` does with a file it is
// given: SeriesReader::AddBytes (DCMTK's parser from memory, the header reading) and then
// BuildSeries for every series found (grouping, sorting, geometry, decoding through DCMTK's codecs
// and OpenJPEG, rescale, padding, resampling). One input is one instance; errors are expected
// results, only crashes, leaks, undefined behaviour, timeouts and excessive memory count.

#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/dictionary.h"
#include "dicom/series_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool kDictionary = (tributary::dicom::InstallCompiledDictionary(), true);
  (void)kDictionary;
  tributary::dicom::SeriesReader reader;
  if (!reader.AddBytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz").ok()) {
    return 0;
  }
  for (const std::string& uid : reader.SeriesUids()) {
    tributary::dicom::SeriesVolumes series = reader.BuildSeries(uid);
    (void)series;
  }
  return 0;
}
