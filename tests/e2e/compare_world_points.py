"""Checks a harmonized NIfTI against the converted volume it came from, at random world points.

Usage: compare_world_points.py HARMONIZED CONVERTED [POINTS] [TOLERANCE]

Voxel centres of HARMONIZED (away from its edges) are mapped through both affines into CONVERTED's
voxel space; where they fall inside it, CONVERTED is interpolated trilinearly there (scipy, order 1)
and must equal HARMONIZED's value within TOLERANCE times the largest magnitude compared (default
1e-5: float32 voxels and coordinates). Prints the points compared and the largest
difference as JSON; exits 1 when a difference is too large or too few points fall inside.
Read with nibabel and scipy from Debian's /usr/bin/python3: independent of the code under test.
"""
import json
import sys

import nibabel
import numpy
from scipy import ndimage

harmonized = nibabel.load(sys.argv[1])
converted = nibabel.load(sys.argv[2])
points = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5

h = numpy.asanyarray(harmonized.dataobj, dtype=numpy.float64)
c = numpy.asanyarray(converted.dataobj, dtype=numpy.float64) * (converted.dataobj.slope or 1) + (
    converted.dataobj.inter or 0)
h = h * (harmonized.dataobj.slope or 1) + (harmonized.dataobj.inter or 0)
if h.ndim == 4:
    h, c = h[..., 0], c[..., 0]
rng = numpy.random.default_rng(7)
ijk = numpy.stack([rng.integers(2, s - 2, points * 4) for s in h.shape[:3]])
world = harmonized.affine @ numpy.vstack([ijk, numpy.ones(ijk.shape[1])])
inside = numpy.linalg.inv(converted.affine) @ world
inside = inside[:3]
keep = numpy.all((inside >= 1) & (inside <= numpy.array(c.shape[:3])[:, None] - 2), axis=0)
ijk, inside = ijk[:, keep][:, :points], inside[:, keep][:, :points]
expected = ndimage.map_coordinates(c, inside, order=1, mode="nearest")
actual = h[tuple(ijk)]
difference = float(numpy.max(numpy.abs(actual - expected))) if actual.size else float("nan")
print(json.dumps({"points": int(actual.size), "max_difference": difference,
                  "value_range": [float(expected.min()), float(expected.max())] if actual.size else []}))
scale = max(1.0, float(numpy.max(numpy.abs(expected)))) if actual.size else 1.0
sys.exit(0 if actual.size >= points // 4 and difference <= tolerance * scale else 1)
