#!/usr/bin/python3
"""read_cohort_export.py DIR

Reads an exported cohort with independent readers and prints what it found, one line:
  <NIfTI images> <PNG pictures> <PROV records written> <PROV records read> <record kinds...>
nibabel loads every image whole (3D, finite voxels, qform = sform), Pillow verifies every PNG,
Debian's python3-prov parses provenance.json (it drops what it does not understand, so the
records it read are compared with those the document holds)."""
import glob
import json
import os
import sys

import nibabel
import numpy
import prov.model
from PIL import Image


def main():
    root = sys.argv[1]
    images = sorted(glob.glob(os.path.join(root, "sub-*", "ses-*", "*", "*.nii.gz")))
    for path in images:
        img = nibabel.load(path)
        data = numpy.asanyarray(img.dataobj)
        assert data.ndim == 3 and numpy.isfinite(data).all(), path
        assert numpy.allclose(img.get_qform(), img.get_sform()), path
    pictures = sorted(glob.glob(os.path.join(root, "qc", "*.png")))
    for path in pictures:
        with Image.open(path) as picture:
            picture.verify()
    path = os.path.join(root, "provenance.json")
    with open(path) as f:
        document = json.load(f)
    written = sum(len(v) for k, v in document.items() if k != "prefix")
    parsed = prov.model.ProvDocument.deserialize(source=path, format="json")
    read = len(list(parsed.get_records()))
    kinds = sorted(k for k in document if k != "prefix")
    print(len(images), len(pictures), written, read, " ".join(kinds))


if __name__ == "__main__":
    main()
