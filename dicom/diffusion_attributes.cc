#include "dicom/diffusion_attributes.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dicom/attribute_readers.h"
#include "dicom/siemens_csa.h"
#include "dicom/vec3.h"

namespace tributary::dicom {
namespace {

using common::DiffusionGradient;

// Shorter gradient vectors than this are "no direction" (b = 0, isotropic images).
constexpr double kNoDirection = 1e-3;

struct Candidate {
  DiffusionGradient gradient;
  bool complete = false;  // b = 0, explicitly non-directional, or with a direction
};

Candidate Make(double b_value, std::optional<Vec3> direction, bool non_directional) {
  Candidate c;
  c.gradient.b_value = b_value;
  if (b_value <= 0 || non_directional) {
    c.complete = true;
    return c;
  }
  if (direction && Norm(*direction) > kNoDirection) {
    c.gradient.direction = Scaled(*direction, 1 / Norm(*direction));
    c.complete = true;
  }
  return c;
}

std::optional<Vec3> Triplet(DcmItem& item, const DcmTagKey& tag) {
  std::optional<std::vector<double>> v = Numbers(item, tag, 3);
  if (!v) return std::nullopt;
  return Vec3{(*v)[0], (*v)[1], (*v)[2]};
}

// The element (group, xx`element`) of the private block whose creator is `creator`: one walk
// over the item's elements (kept in tag order) up to the group's creators.
std::optional<DcmTagKey> PrivateTag(DcmItem& item, Uint16 group, const char* creator,
                                    Uint16 element) {
  for (DcmObject* o = item.nextInContainer(nullptr); o != nullptr; o = item.nextInContainer(o)) {
    const DcmTag& tag = o->getTag();
    if (tag.getGTag() < group || (tag.getGTag() == group && tag.getETag() < 0x10)) continue;
    if (tag.getGTag() > group || tag.getETag() > 0xFF) break;
    OFString value;
    if (static_cast<DcmElement*>(o)->getOFStringArray(value).bad() || Trimmed(value) != creator)
      continue;
    return DcmTagKey(group, static_cast<Uint16>((tag.getETag() << 8) | element));
  }
  return std::nullopt;
}

std::optional<Candidate> Standard(DcmItem& item) {
  std::optional<double> b = Number(item, DCM_DiffusionBValue);
  if (!b) return std::nullopt;
  std::string directionality = String(item, DCM_DiffusionDirectionality);
  std::optional<Vec3> direction;
  DcmItem* gradient = nullptr;
  if (item.findAndGetSequenceItem(DCM_DiffusionGradientDirectionSequence, gradient, 0).good()) {
    direction = Triplet(*gradient, DCM_DiffusionGradientOrientation);
  }
  if (!direction) direction = Triplet(item, DCM_DiffusionGradientOrientation);
  return Make(*b, direction, directionality == "ISOTROPIC" || directionality == "NONE");
}

std::optional<Candidate> Siemens(DcmItem& d) {
  std::optional<DcmTagKey> b_tag = PrivateTag(d, 0x0019, "SIEMENS MR HEADER", 0x0C);
  std::optional<double> b;
  if (std::optional<std::int64_t> value = b_tag ? Integer(d, *b_tag) : std::nullopt) b = *value;
  std::optional<Vec3> direction;
  if (b) {
    std::optional<DcmTagKey> dir_tag = PrivateTag(d, 0x0019, "SIEMENS MR HEADER", 0x0E);
    if (dir_tag) direction = Triplet(d, *dir_tag);
  } else {
    if (!PrivateTag(d, 0x0029, "SIEMENS CSA HEADER", 0x10)) return std::nullopt;
    std::vector<std::string> csa_b = CsaImageItems(d, "B_value");
    if (csa_b.empty()) return std::nullopt;
    b = std::strtod(csa_b[0].c_str(), nullptr);
    std::vector<std::string> csa_dir = CsaImageItems(d, "DiffusionGradientDirection");
    if (csa_dir.size() >= 3) {
      direction =
          Vec3{std::strtod(csa_dir[0].c_str(), nullptr), std::strtod(csa_dir[1].c_str(), nullptr),
               std::strtod(csa_dir[2].c_str(), nullptr)};
    }
  }
  return Make(*b, direction, false);
}

// GE's gradient (0019,xxBB-BD) is in its own frame; dcm2niix's geCorrectBvecs (after Xiangrui Li's
// dicm2nii) turns it into image axes by the dominant axis of the slice normal and the phase
// encoding direction (0018,1312). Worked back to the patient frame: components along the row
// direction, the column direction and the slice normal.
std::optional<Candidate> Ge(DcmItem& d) {
  std::optional<DcmTagKey> b_tag = PrivateTag(d, 0x0043, "GEMS_PARM_01", 0x39);
  if (!b_tag) return std::nullopt;
  std::vector<std::string> values = Split(String(d, *b_tag));
  if (values.empty()) return std::nullopt;
  char* end = nullptr;
  long long raw = std::strtoll(values[0].c_str(), &end, 10);
  if (end == values[0].c_str()) return std::nullopt;
  double b = static_cast<double>(raw % 1000000000);  // GE's bias (dcm2niix issue 602)
  Vec3 g = {0, 0, 0};
  for (int axis = 0; axis < 3; ++axis) {
    std::optional<DcmTagKey> tag =
        PrivateTag(d, 0x0019, "GEMS_ACQU_01", static_cast<Uint16>(0xBB + axis));
    std::optional<double> v = tag ? Number(d, *tag) : std::nullopt;
    if (!v) return Make(b, std::nullopt, false);
    g[axis] = *v;
  }
  std::optional<std::vector<double>> iop = Numbers(d, DCM_ImageOrientationPatient, 6);
  if (!iop) return Make(b, std::nullopt, false);
  Vec3 row = {(*iop)[0], (*iop)[1], (*iop)[2]}, col = {(*iop)[3], (*iop)[4], (*iop)[5]};
  Vec3 normal = Cross(row, col);
  double length = Norm(g);
  // b scaled by |g|^2 (dcm2niix issues 163, 245), rounded to 5 s/mm^2.
  if (length > 0.03 && length < 0.97 && b > 0) {
    double scaled = b * length * length;
    b = scaled < 5 ? 5 : std::floor((scaled + 2.5) / 5) * 5;
  }
  int slice_axis = 2;  // axial
  if (std::abs(normal[0]) >= std::abs(normal[1]) && std::abs(normal[0]) >= std::abs(normal[2])) {
    slice_axis = 0;  // sagittal
  } else if (std::abs(normal[1]) >= std::abs(normal[2])) {
    slice_axis = 1;  // coronal
  }
  static constexpr int kFlip[3][3] = {{1, 1, 0}, {0, 1, 1}, {0, 0, 1}};
  auto sign = [&](int axis) { return kFlip[slice_axis][axis] ? -1.0 : 1.0; };
  bool column_phase = String(d, DCM_InPlanePhaseEncodingDirection) != "ROW";
  double along_row = column_phase ? -g[0] * sign(0) : -g[1] * sign(0);
  double along_col = column_phase ? -g[1] * sign(1) : g[0] * sign(1);
  double along_normal = -g[2] * sign(2);
  Vec3 lps = {0, 0, 0};
  for (int r = 0; r < 3; ++r)
    lps[r] = along_row * row[r] + along_col * col[r] + along_normal * normal[r];
  return Make(b, lps, false);
}

std::optional<Candidate> Philips(DcmItem& d) {
  const char* kCreator = "Philips MR Imaging DD 001";
  std::optional<DcmTagKey> b_tag = PrivateTag(d, 0x2001, kCreator, 0x03);
  std::optional<double> b = b_tag ? Number(d, *b_tag) : std::nullopt;
  if (!b) return std::nullopt;
  Vec3 direction = {0, 0, 0};
  for (int axis = 0; axis < 3; ++axis) {
    std::optional<DcmTagKey> tag =
        PrivateTag(d, 0x2005, kCreator, static_cast<Uint16>(0xB0 + axis));
    std::optional<double> v = tag ? Number(d, *tag) : std::nullopt;
    if (!v) return Make(*b, std::nullopt, false);
    direction[axis] = *v;
  }
  return Make(*b, direction, false);
}

// UIH: (0065,xx09) b-value and (0065,xx37) gradient direction of "Image Private Header". The
// direction is in the image frame (along rows, along columns, along row x column), which is how
// dcm2niix reads it (its bvec is (x, -y, z) in its row-flipped voxel axes); turned here into the
// patient frame with ImageOrientationPatient.
std::optional<Candidate> Uih(DcmItem& d) {
  const char* kCreator = "Image Private Header";
  std::optional<DcmTagKey> b_tag = PrivateTag(d, 0x0065, kCreator, 0x09);
  std::optional<double> b = b_tag ? Number(d, *b_tag) : std::nullopt;
  if (!b) return std::nullopt;
  std::optional<DcmTagKey> dir_tag = PrivateTag(d, 0x0065, kCreator, 0x37);
  std::optional<Vec3> image = dir_tag ? Triplet(d, *dir_tag) : std::nullopt;
  std::optional<std::vector<double>> iop = Numbers(d, DCM_ImageOrientationPatient, 6);
  if (!image || !iop) return Make(*b, std::nullopt, false);
  Vec3 row = {(*iop)[0], (*iop)[1], (*iop)[2]};
  Vec3 col = {(*iop)[3], (*iop)[4], (*iop)[5]};
  Vec3 normal = Cross(row, col);
  Vec3 lps = {0, 0, 0};
  for (int r = 0; r < 3; ++r)
    lps[r] = (*image)[0] * row[r] + (*image)[1] * col[r] + (*image)[2] * normal[r];
  return Make(*b, lps, false);
}

std::optional<Candidate> Best(DcmItem& d, bool with_standard) {
  std::optional<Candidate> first;
  auto consider = [&](std::optional<Candidate> c) {
    if (!c) return false;
    if (!first) first = c;
    if (c->complete) first = c;
    return c->complete;
  };
  DcmItem* item = nullptr;
  if (with_standard && d.findAndGetSequenceItem(DCM_MRDiffusionSequence, item, 0).good() &&
      consider(Standard(*item))) {
    return first;
  }
  if (with_standard && consider(Standard(d))) return first;
  if (consider(Siemens(d)) || consider(Ge(d)) || consider(Philips(d)) || consider(Uih(d))) {
    return first;
  }
  return first;
}

}  // namespace

std::optional<DiffusionGradient> ReadStandardDiffusion(DcmItem& item) {
  std::optional<Candidate> c = Standard(item);
  if (!c) return std::nullopt;
  return c->gradient;
}

std::optional<DiffusionGradient> ReadDiffusion(DcmItem& dataset) {
  std::optional<Candidate> c = Best(dataset, true);
  if (!c) return std::nullopt;
  return c->gradient;
}

void CopyDiffusionToStandard(DcmItem& dataset) {
  if (dataset.tagExists(DCM_MRDiffusionSequence) ||
      dataset.tagExists(DCM_PerFrameFunctionalGroupsSequence)) {
    return;
  }
  std::optional<Candidate> standard = Standard(dataset);
  if (standard && standard->complete) return;
  std::optional<Candidate> vendor = Best(dataset, false);
  if (!vendor) return;
  const DiffusionGradient& g = vendor->gradient;
  bool directional = Norm(g.direction) > kNoDirection;
  DcmItem* item = nullptr;
  if (dataset.findOrCreateSequenceItem(DCM_MRDiffusionSequence, item, 0).bad()) return;
  item->putAndInsertFloat64(DCM_DiffusionBValue, g.b_value);
  item->putAndInsertString(DCM_DiffusionDirectionality,
                           directional ? "DIRECTIONAL" : (g.b_value > 0 ? "ISOTROPIC" : "NONE"));
  if (!directional) return;
  DcmItem* gradient = nullptr;
  if (item->findOrCreateSequenceItem(DCM_DiffusionGradientDirectionSequence, gradient, 0).bad())
    return;
  gradient->putAndInsertFloat64Array(DCM_DiffusionGradientOrientation, g.direction.data(), 3);
}

}  // namespace tributary::dicom
