#include "cli/series_inputs.h"

#include <filesystem>
#include <iostream>

#include "cli/input_files.h"

namespace tributary::cli {

void DropDescriptions(dicom::SeriesVolumes& series) {
  series.label = "series_" + std::to_string(series.series_number);
  for (common::Volume& volume : series.volumes) {
    volume.protocol_name = "series";
    volume.metadata.erase("ProtocolName");
    volume.metadata.erase("SeriesDescription");
  }
}

SeriesInputs ReadSeriesInputs(const std::vector<std::string>& inputs, const std::string& exclude,
                              unsigned threads, bool progress) {
  SeriesInputs out;
  std::vector<MissingInput> missing;
  std::vector<std::filesystem::path> files = ListInputFiles(inputs, exclude, missing);
  for (const MissingInput& m : missing) out.skipped.push_back({m.path, m.reason});
  out.missing_inputs = out.skipped.size();
  std::vector<std::string> candidates;
  for (const std::filesystem::path& file : files) candidates.push_back(file.string());
  // Files that are not DICOM images (ProbeDicom, then the header) come back with their reason.
  std::vector<absl::Status> added = out.reader.AddFiles(candidates, threads, [&](std::size_t done) {
    if (progress && (done % 16 == 0 || done == candidates.size())) {
      std::cerr << "\r\033[Kreading headers [" << done << "/" << candidates.size() << "]"
                << std::flush;
    }
  });
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!added[i].ok()) out.skipped.push_back({candidates[i], std::string(added[i].message())});
  }
  return out;
}

}  // namespace tributary::cli
