#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/volume.h"

namespace tributary::normalize {

// Plain-C++ helpers the intensity steps share (no ITK here).

// The voxels as float, in storage order.
std::vector<float> FloatVoxels(const common::Volume& volume);

// A float32 volume with `like`'s geometry, naming and metadata, holding `values`.
common::Volume FloatVolume(const common::Volume& like, const std::vector<float>& values);

// The values of time point `t` where `mask` (one byte per voxel of one time point) is set.
std::vector<double> MaskedValues(const std::vector<float>& values, std::size_t t,
                                 const std::vector<std::uint8_t>& mask);

// numpy's default percentile (linear between order statistics) of sorted values; p in [0, 100].
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace tributary::normalize
