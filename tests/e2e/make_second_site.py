#!/usr/bin/python3
"""make_second_site.py IN_DIR OUT_DIR SITE [GAIN OFFSET]

Writes a synthetic second site of the same anatomy: every DICOM instance of IN_DIR with its pixel
values passed through another scanner response (GAIN * value + OFFSET, kept in the stored range),
a new patient (ID and name from SITE), new study, series and instance UIDs (derived from the old
ones and SITE, so references stay consistent) and the site's manufacturer. Read and written with
pydicom, independently of the code under test."""
import os
import sys

import numpy as np
import pydicom
from pydicom.uid import generate_uid


def main():
    in_dir, out_dir, site = sys.argv[1:4]
    gain = float(sys.argv[4]) if len(sys.argv) > 4 else 1.7
    offset = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    os.makedirs(out_dir, exist_ok=True)
    count = 0
    for name in sorted(os.listdir(in_dir)):
        path = os.path.join(in_dir, name)
        try:
            ds = pydicom.dcmread(path)
        except Exception:
            continue
        if "PixelData" not in ds:
            continue
        pixels = ds.pixel_array.astype(np.float64)
        bits = int(ds.BitsStored)
        signed = int(ds.PixelRepresentation) == 1
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        changed = np.clip(np.rint(pixels * gain + offset), lo, hi)
        ds.PixelData = changed.astype(ds.pixel_array.dtype).tobytes()
        if "LargestImagePixelValue" in ds:
            del ds.LargestImagePixelValue
        if "SmallestImagePixelValue" in ds:
            del ds.SmallestImagePixelValue
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                        "FrameOfReferenceUID"):
            if keyword in ds:
                setattr(ds, keyword, generate_uid(entropy_srcs=[str(getattr(ds, keyword)), site]))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = "PID-" + site.upper()
        ds.PatientName = site.upper() + "^VOLUNTEER"
        ds.Manufacturer = site.upper() + " SCANNERS"
        ds.InstitutionName = site.upper() + " HOSPITAL"
        ds.save_as(os.path.join(out_dir, name), write_like_original=False)
        count += 1
    print(count)


if __name__ == "__main__":
    main()
