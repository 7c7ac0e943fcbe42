#include "dicom/enhanced_frames.h"

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>

#include <string>

#include "dicom/attribute_readers.h"
#include "dicom/diffusion_attributes.h"
#include "dicom/vec3.h"

namespace tributary::dicom {
namespace {

// The first item of functional group `group` for frame `frame`: per-frame, else shared.
DcmItem* FunctionalGroup(DcmDataset& d, unsigned frame, const DcmTagKey& group) {
  DcmItem* frame_item = nullptr;
  DcmItem* item = nullptr;
  if (d.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame_item, frame).good() &&
      frame_item->findAndGetSequenceItem(group, item, 0).good()) {
    return item;
  }
  DcmItem* shared = nullptr;
  if (d.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good() &&
      shared->findAndGetSequenceItem(group, item, 0).good()) {
    return item;
  }
  return nullptr;
}

}  // namespace

void EnhancedAcquisition(DcmDataset& d, Instance& instance) {
  if (DcmItem* timing = FunctionalGroup(d, 0, DCM_MRTimingAndRelatedParametersSequence)) {
    if (auto tr = Number(*timing, DCM_RepetitionTime)) instance.repetition_time_ms = tr;
    if (auto flip = Number(*timing, DCM_FlipAngle)) instance.metadata["FlipAngle"] = *flip;
  }
  if (instance.repetition_time_ms) {
    instance.metadata["RepetitionTime"] = *instance.repetition_time_ms / 1000;
  }
  if (DcmItem* modifier = FunctionalGroup(d, 0, DCM_MRImagingModifierSequence)) {
    if (auto frequency = Number(*modifier, DCM_TransmitterFrequency)) {
      instance.metadata["ImagingFrequency"] = *frequency;
    }
    if (auto bandwidth = Number(*modifier, DCM_PixelBandwidth)) {
      instance.metadata["PixelBandwidth"] = *bandwidth;
    }
  }
  if (DcmItem* measures = FunctionalGroup(d, 0, DCM_PixelMeasuresSequence)) {
    if (auto thickness = Number(*measures, DCM_SliceThickness)) {
      instance.metadata["SliceThickness"] = *thickness;
    }
    if (auto spacing = Number(*measures, DCM_SpacingBetweenSlices)) {
      instance.metadata["SpacingBetweenSlices"] = *spacing;
    }
  }
}

absl::Status EnhancedFrames(Instance& in, const Slice& base, std::vector<Slice>& out) {
  DcmDataset& d = *in.file->getDataset();
  for (unsigned f = 0; f < in.frames; ++f) {
    Slice slice = base;
    slice.frame = f;
    FrameGeometry& g = slice.geometry;
    DcmItem* position = FunctionalGroup(d, f, DCM_PlanePositionSequence);
    DcmItem* orientation = FunctionalGroup(d, f, DCM_PlaneOrientationSequence);
    auto ipp = position ? Numbers(*position, DCM_ImagePositionPatient, 3) : std::nullopt;
    auto iop = orientation ? Numbers(*orientation, DCM_ImageOrientationPatient, 6) : std::nullopt;
    if (!ipp || !iop) {
      return absl::InvalidArgumentError(in.source + ": frame " + std::to_string(f + 1) +
                                        " has no PlanePosition/PlaneOrientation functional group");
    }
    g.row_dir = {(*iop)[0], (*iop)[1], (*iop)[2]};
    g.col_dir = {(*iop)[3], (*iop)[4], (*iop)[5]};
    if (Norm(g.row_dir) < 0.5 || Norm(g.col_dir) < 0.5) {
      return absl::InvalidArgumentError(in.source + ": frame " + std::to_string(f + 1) +
                                        " has a degenerate ImageOrientationPatient");
    }
    g.row_dir = Scaled(g.row_dir, 1 / Norm(g.row_dir));
    g.col_dir = Scaled(g.col_dir, 1 / Norm(g.col_dir));
    g.position = {(*ipp)[0], (*ipp)[1], (*ipp)[2]};
    if (DcmItem* measures = FunctionalGroup(d, f, DCM_PixelMeasuresSequence)) {
      auto spacing = Numbers(*measures, DCM_PixelSpacing, 2);
      if (spacing && (*spacing)[0] > 0 && (*spacing)[1] > 0) {
        g.dy = (*spacing)[0];
        g.dx = (*spacing)[1];
      }
    }
    if (DcmItem* transform = FunctionalGroup(d, f, DCM_PixelValueTransformationSequence)) {
      g.slope = Number(*transform, DCM_RescaleSlope).value_or(1);
      if (g.slope == 0) g.slope = 1;
      g.intercept = Number(*transform, DCM_RescaleIntercept).value_or(0);
    }
    if (DcmItem* content = FunctionalGroup(d, f, DCM_FrameContentSequence)) {
      slice.temporal_position = Integer(*content, DCM_TemporalPositionIndex).value_or(0);
      std::string acquired = String(*content, DCM_FrameAcquisitionDateTime);
      if (acquired.size() > 8) {
        if (auto seconds = Seconds(acquired.substr(8))) slice.acquired_ms = *seconds * 1000;
      }
      slice.stack_id = String(*content, DCM_StackID);
    }
    if (DcmItem* echo = FunctionalGroup(d, f, DCM_MREchoSequence)) {
      if (auto time = Number(*echo, DCM_EffectiveEchoTime)) slice.echo_time = time;
    }
    if (DcmItem* type = FunctionalGroup(d, f, DCM_MRImageFrameTypeSequence)) {
      std::string frame_type = String(*type, DCM_FrameType);
      if (!frame_type.empty()) slice.image_type = frame_type;
    }
    if (DcmItem* diffusion = FunctionalGroup(d, f, DCM_MRDiffusionSequence)) {
      slice.diffusion = ReadStandardDiffusion(*diffusion);
    }
    out.push_back(slice);
  }
  return absl::OkStatus();
}

}  // namespace tributary::dicom
