#pragma once

#include <string>
#include <vector>

#include "dicom/series_reader.h"

namespace tributary::cli {

// A file that was not read as part of a series, and why.
struct SkippedFile {
  std::string path;
  std::string reason;
};

// The DICOM inputs of an offline command, read into one SeriesReader: folders searched
// recursively (in sorted order; `exclude`, an output folder inside an input, left out), headers
// read on `threads` threads with progress on standard error when `progress` is set (`verb` names
// the step there). Files that are not DICOM images and inputs that do not exist come back in
// `skipped`; `missing_inputs` counts the latter.
struct SeriesInputs {
  dicom::SeriesReader reader;
  std::vector<SkippedFile> skipped;
  std::size_t missing_inputs = 0;
};
// --no-descriptions: ProtocolName and SeriesDescription (free text a scanner operator typed, which
// can identify on identified input) left out of the sidecar, and files named series_<number>.
void DropDescriptions(dicom::SeriesVolumes& series);

SeriesInputs ReadSeriesInputs(const std::vector<std::string>& inputs, const std::string& exclude,
                              unsigned threads, bool progress);

}  // namespace tributary::cli
