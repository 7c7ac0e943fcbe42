#pragma once

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <filesystem>
#include <string>

#include "tests/e2e/server_process.h"
#include "tests/unit/synthetic_dicom.h"

namespace tributary::testing {

// A synthetic MR series of `slices` 64x64 slices 1 mm apart, written by DCMTK into `dir`.
inline void WriteMrSeries(const std::filesystem::path& dir, const std::string& patient,
                          const std::string& uid_root, int slices = 12) {
  for (int i = 0; i < slices; ++i) {
    CtSliceSpec spec;
    spec.patient_id = patient;
    spec.patient_name = "MR^" + patient;
    spec.study_uid = uid_root + ".1";
    spec.series_uid = uid_root + ".2";
    spec.sop_uid = uid_root + ".3." + std::to_string(i);
    spec.frame_of_reference_uid = uid_root + ".4";
    spec.slice_position = i;
    auto file = MakeCtSlice(spec);
    DcmDataset* d = file->getDataset();
    d->putAndInsertString(DCM_Modality, "MR");
    d->putAndInsertString(DCM_SOPClassUID, UID_MRImageStorage);
    d->findAndDeleteElement(DCM_RescaleIntercept);
    d->findAndDeleteElement(DCM_RescaleSlope);
    d->findAndDeleteElement(DCM_KVP);
    file->getMetaInfo()->putAndInsertString(DCM_MediaStorageSOPClassUID, UID_MRImageStorage);
    WriteFile(dir / ("MR" + std::to_string(i) + ".dcm"), Encode(*file));
  }
}

}  // namespace tributary::testing
