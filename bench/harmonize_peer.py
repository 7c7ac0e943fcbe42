#!/usr/bin/python3
"""The script a researcher would write instead of `tributary harmonize --recipe ct-default`.

nibabel + scipy.ndimage + numpy (Debian's /usr/bin/python3) on the converted NIfTI: clip the HU on
the acquired grid, as_closest_canonical, Gaussian anti-aliasing of each downsampled axis (TorchIO's
sigma, in voxel units), linear resampling onto the centre-keeping 1 mm grid, clip again, save
.nii.gz. Prints the seconds of each stage as JSON (bench/harmonize_bench.cc reads them).

    harmonize_peer.py CONVERTED.nii OUT.nii.gz [--target-mm 1]
"""
import json
import math
import sys
import time

t_start = time.perf_counter()
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

MIN_HU, MAX_HU = -1024.0, 3071.0


def centred_grid(shape, affine, target):
    """The grid with `target` spacing and the input's axes that keeps its physical centre."""
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    axes = affine[:3, :3] / spacing
    size = [max(1, int(math.floor(n * s / t + 1e-9))) for n, s, t in zip(shape, spacing, target)]
    centre = affine[:3, :3] @ ((np.array(shape) - 1) / 2) + affine[:3, 3]
    out = np.eye(4)
    out[:3, :3] = axes * np.array(target)
    out[:3, 3] = centre - out[:3, :3] @ ((np.array(size) - 1) / 2)
    return size, out, spacing


def main():
    src, dst = sys.argv[1], sys.argv[2]
    target = np.array([float(sys.argv[4])] * 3 if "--target-mm" in sys.argv else [1.0, 1.0, 1.0])
    seconds = {"0 imports": time.perf_counter() - t_start}

    t = time.perf_counter()
    img = nib.load(src)
    data = np.asarray(img.dataobj, dtype=np.float32)
    seconds["1 read"] = time.perf_counter() - t

    t = time.perf_counter()
    np.clip(data, MIN_HU, MAX_HU, out=data)
    seconds["2 CT clip"] = time.perf_counter() - t

    t = time.perf_counter()
    img = nib.as_closest_canonical(nib.Nifti1Image(data, img.affine, img.header))
    data = np.ascontiguousarray(img.dataobj, dtype=np.float32)
    affine = img.affine
    seconds["3 orientation"] = time.perf_counter() - t

    t = time.perf_counter()
    size, out_affine, spacing = centred_grid(data.shape, affine, target)
    k = target / spacing
    sigma_mm = np.where(k > 1, spacing * np.sqrt(np.maximum(k * k - 1, 0) / (8 * math.log(2))), 0)
    smoothed = ndimage.gaussian_filter(data, sigma=sigma_mm / spacing, mode="nearest")
    # Output voxel index -> input voxel index: both grids share their axes.
    to_input = np.linalg.inv(affine) @ out_affine
    matrix = to_input[:3, :3]
    if np.allclose(matrix, np.diag(np.diag(matrix)), atol=1e-9):
        matrix = np.diag(matrix)  # scipy's faster path for a diagonal transform
    out = ndimage.affine_transform(smoothed, matrix, offset=to_input[:3, 3],
                                   output_shape=tuple(size), output=np.float32, order=1,
                                   mode="nearest")
    # ITK's linear resampling takes points within half a voxel of the input's edge centres (edge
    # values), the rest get the background.
    idx = [to_input[a, a] * np.arange(size[a]) + to_input[a, 3] for a in range(3)]
    for a in range(3):
        outside = (idx[a] < -0.5) | (idx[a] > data.shape[a] - 0.5)
        if outside.any():
            sl = [slice(None)] * 3
            sl[a] = outside
            out[tuple(sl)] = MIN_HU
    seconds["4 resampling"] = time.perf_counter() - t

    t = time.perf_counter()
    np.clip(out, MIN_HU, MAX_HU, out=out)
    seconds["5 intensity"] = time.perf_counter() - t

    t = time.perf_counter()
    result = nib.Nifti1Image(out, out_affine)
    result.set_qform(out_affine, code=1)
    result.set_sform(out_affine, code=1)
    nib.save(result, dst)
    seconds["6 NIfTI write"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_start
    json.dump(seconds, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
