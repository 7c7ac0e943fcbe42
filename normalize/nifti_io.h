#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "common/status.h"
#include "common/volume.h"

namespace tributary::normalize {

// Writes `volume` as NIfTI-1 with ITK: `.nii.gz` is gzip-compressed (ITK writes the `.nii`,
// GzipFile deflates it on every core, the `.nii` is removed), `.nii` is not. The affine is
// the scanner (DICOM patient) frame converted from LPS to NIfTI's RAS, written as qform and sform
// alike (both code 1, scanner-based). A volume with more than one time point is written 4D.
absl::Status WriteNifti(const common::Volume& volume, const std::string& path);

// Reads a NIfTI-1 file whole (header and every voxel, decompressed) with niftilib, the library
// under ITK's NIfTI reader, and returns its size (4 axes): the check that a written file reads
// back, holding the voxels once rather than twice as ReadNifti does.
absl::StatusOr<std::array<std::size_t, 4>> ReadNiftiBack(const std::string& path);

// Reads a NIfTI-1 file with ITK into float32 voxels with scl_slope/scl_inter applied, geometry in
// LPS. For tests and comparisons; metadata and naming fields stay empty.
absl::StatusOr<common::Volume> ReadNifti(const std::string& path);

}  // namespace tributary::normalize
