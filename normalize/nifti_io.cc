#include "normalize/nifti_io.h"

#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkNiftiImageIO.h>
#include <nifti1_io.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "common/parallel.h"
#include "normalize/gzip_file.h"

namespace tributary::normalize {
namespace {

template <typename T, unsigned D>
absl::Status WriteAs(const common::Volume& volume, const std::string& path) {
  using Image = itk::Image<T, D>;
  typename Image::Pointer image = Image::New();
  typename Image::SizeType size;
  typename Image::SpacingType spacing;
  typename Image::PointType origin;
  typename Image::DirectionType direction;
  direction.SetIdentity();
  for (unsigned d = 0; d < D; ++d) {
    size[d] = volume.size[d];
    spacing[d] = d < 3 ? volume.spacing[d] : volume.time_step;
    origin[d] = d < 3 ? volume.origin[d] : 0.0;
  }
  for (unsigned r = 0; r < 3; ++r) {
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = volume.direction[3 * r + c];
  }
  typename Image::RegionType region;
  region.SetSize(size);
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  // The writer only reads the buffer; importing it avoids a copy of the whole volume.
  T* buffer = reinterpret_cast<T*>(const_cast<std::byte*>(volume.voxels.data()));
  image->GetPixelContainer()->SetImportPointer(buffer, volume.VoxelCount(), false);

  auto io = itk::NiftiImageIO::New();
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(io);
  writer->SetFileName(path);
  writer->SetInput(image);
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& error) {
    return absl::InternalError("cannot write " + path + ": " + error.GetDescription());
  }
  // ITK 5.2's NIfTI writer reports some failures (a missing folder) only on stderr.
  std::error_code error;
  std::uintmax_t written = std::filesystem::file_size(path, error);
  if (error || written == 0) {
    return absl::InternalError("cannot write " + path +
                               (error ? ": " + error.message() : std::string(": empty file")));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status WriteTyped(const common::Volume& volume, const std::string& path) {
  if (volume.size[3] > 1) return WriteAs<T, 4>(volume, path);
  return WriteAs<T, 3>(volume, path);
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

absl::Status WriteUncompressed(const common::Volume& volume, const std::string& path) {
  switch (volume.pixel_type) {
    case common::PixelType::kUint8:
      return WriteTyped<std::uint8_t>(volume, path);
    case common::PixelType::kInt16:
      return WriteTyped<std::int16_t>(volume, path);
    case common::PixelType::kUint16:
      return WriteTyped<std::uint16_t>(volume, path);
    case common::PixelType::kInt32:
      return WriteTyped<std::int32_t>(volume, path);
    case common::PixelType::kFloat32:
      return WriteTyped<float>(volume, path);
  }
  return absl::InvalidArgumentError("unknown pixel type");
}

}  // namespace

absl::Status WriteNifti(const common::Volume& volume, const std::string& path) {
  if (volume.voxels.size() != volume.VoxelCount() * common::PixelSize(volume.pixel_type)) {
    return absl::InvalidArgumentError("volume buffer does not match its size and pixel type");
  }
  if (volume.VoxelCount() == 0) return absl::InvalidArgumentError("empty volume");
  if (!EndsWith(path, ".gz")) return WriteUncompressed(volume, path);
  // ITK's writer deflates on one core; write the .nii and gzip it on all of them instead.
  const std::string uncompressed = path + ".uncompressed.nii";
  absl::Status status = WriteUncompressed(volume, uncompressed);
  if (status.ok()) status = GzipFile(uncompressed, path, common::CoreCount());
  std::error_code ignored;
  std::filesystem::remove(uncompressed, ignored);
  return status;
}

absl::StatusOr<std::array<std::size_t, 4>> ReadNiftiBack(const std::string& path) {
  // niftilib, which ITK's NIfTI reader reads through, holds the voxels once; ITK's reader holds
  // them twice (niftilib's buffer, then the image's).
  nifti_image* image = nifti_image_read(path.c_str(), /*read_data=*/1);
  if (image == nullptr || image->data == nullptr) {
    if (image != nullptr) nifti_image_free(image);
    return absl::InvalidArgumentError("cannot read " + path + " back");
  }
  std::array<std::size_t, 4> size = {1, 1, 1, 1};
  for (int d = 0; d < 4; ++d) {
    if (d < image->dim[0]) size[d] = static_cast<std::size_t>(std::max(image->dim[d + 1], 1));
  }
  const bool higher = image->dim[0] > 4 && image->dim[5] > 1;
  nifti_image_free(image);
  if (higher) return absl::InvalidArgumentError(path + " has more than 4 dimensions");
  return size;
}

absl::StatusOr<common::Volume> ReadNifti(const std::string& path) {
  using Image = itk::Image<float, 4>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(itk::NiftiImageIO::New());
  reader->SetFileName(path);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& error) {
    return absl::InvalidArgumentError("cannot read " + path + ": " + error.GetDescription());
  }
  Image::Pointer image = reader->GetOutput();
  common::Volume volume;
  volume.pixel_type = common::PixelType::kFloat32;
  Image::SizeType size = image->GetLargestPossibleRegion().GetSize();
  for (unsigned d = 0; d < 4; ++d) volume.size[d] = size[d];
  for (unsigned d = 0; d < 3; ++d) {
    volume.spacing[d] = image->GetSpacing()[d];
    volume.origin[d] = image->GetOrigin()[d];
    for (unsigned c = 0; c < 3; ++c) volume.direction[3 * d + c] = image->GetDirection()[d][c];
  }
  volume.time_step = image->GetSpacing()[3];
  volume.voxels.resize(volume.VoxelCount() * sizeof(float));
  std::memcpy(volume.voxels.data(), image->GetBufferPointer(), volume.voxels.size());
  return volume;
}

}  // namespace tributary::normalize
