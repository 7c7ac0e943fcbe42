#pragma once

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrma.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/metadata_value.h"
#include "common/volume.h"
#include "dicom/frame_geometry.h"
#include "dicom/reconstruction_block.h"
#include "dicom/vec3.h"

namespace tributary::dicom {

// One DICOM instance as SeriesReader keeps it: its (pruned) data set, the pixel data still lazily
// loaded from its file or buffer, and what its header says. Internal to dicom/.
struct Instance {
  std::string source;
  std::shared_ptr<const std::string> bytes;  // when read from memory
  std::unique_ptr<DcmInputStream> stream;    // outlives `file`, which may load values from it
  std::unique_ptr<DcmFileFormat> file;

  std::string series_uid;
  std::string sop_uid;
  std::string modality;
  std::string protocol;
  std::string image_type;
  std::string photometric;
  E_TransferSyntax xfer = EXS_Unknown;
  std::int64_t series_number = 0;
  std::int64_t instance_number = 0;
  std::int64_t temporal_position = 0;
  std::optional<std::int64_t> echo_number;
  std::optional<double> echo_time;
  double acquisition_time = 0;
  unsigned rows = 0;
  unsigned columns = 0;
  unsigned bits_allocated = 0;
  unsigned bits_stored = 0;
  unsigned high_bit = 0;
  bool is_signed = false;
  unsigned samples = 1;
  unsigned frames = 1;
  std::optional<double> padding_value;
  std::optional<double> padding_limit;
  std::optional<double> slice_thickness;
  std::optional<double> spacing_between_slices;
  std::optional<double> repetition_time_ms;
  bool has_geometry = false;
  FrameGeometry geometry;
  MosaicHeader mosaic;  // Siemens mosaic or UIH grid (uih_mosaic.h): tile count, order, times
  // JPEG 2000 frames over several fragments: the first fragment of each frame (FrameStarts).
  std::vector<unsigned long> fragment_starts;
  common::Metadata metadata;
  common::Metadata subject;  // SeriesVolumes::subject, from this instance
  std::optional<common::DiffusionGradient> diffusion;  // classic images (diffusion_attributes.h)
};

}  // namespace tributary::dicom
