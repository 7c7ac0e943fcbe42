#pragma once

#include <optional>

#include "common/volume.h"

class DcmItem;

namespace tributary::dicom {

// Internal to dicom/: the diffusion weighting (b-value, gradient direction in the patient frame,
// LPS) that DICOM headers state, as dcm2niix reads it.

// One MRDiffusionSequence (0018,9117) item, or a data set that holds DiffusionBValue (0018,9087)
// and DiffusionGradientOrientation (0018,9089) at its top level (Philips' classic images):
// DiffusionDirectionality ISOTROPIC or NONE, and b = 0, give the direction {0, 0, 0}.
std::optional<common::DiffusionGradient> ReadStandardDiffusion(DcmItem& item);

// A classic image's diffusion weighting: the standard attributes (in MRDiffusionSequence or at
// the top level), else the vendors' private ones: Siemens (0019,xx0C/0E of "SIEMENS MR HEADER",
// else the CSA header's B_value and DiffusionGradientDirection), GE (b-value from 0043,xx39 of
// "GEMS_PARM_01" modulo 1e9; direction 0019,xxBB-BD of "GEMS_ACQU_01" in GE's frame, turned into
// the patient frame with the image orientation as dcm2niix's geCorrectBvecs does), Philips
// (2001,xx03 and 2005,xxB0-B2 of "Philips MR Imaging DD 001", in the patient frame), UIH
// (0065,xx09 and 0065,xx37 of "Image Private Header", the direction in the image frame). A source
// that gives a b-value but no direction for b > 0 gives way to the next one that has both.
std::optional<common::DiffusionGradient> ReadDiffusion(DcmItem& dataset);

// Before de-identification: when the diffusion weighting comes from vendor attributes (which
// PS3.15 Table E.3.10-1 does not all list as safe), writes it as the standard attributes
// (MRDiffusionSequence > DiffusionBValue, DiffusionDirectionality, DiffusionGradientDirection
// Sequence > DiffusionGradientOrientation, LPS), so the de-identified copy gives the same
// b-vectors. Data sets with MRDiffusionSequence already, and enhanced multi-frame ones (whose
// per-frame groups are standard), are left as they are.
void CopyDiffusionToStandard(DcmItem& dataset);

}  // namespace tributary::dicom
