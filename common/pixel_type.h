#pragma once

#include <cstddef>

namespace tributary::common {

enum class PixelType { kUint8, kInt16, kUint16, kInt32, kFloat32 };

constexpr std::size_t PixelSize(PixelType type) {
  switch (type) {
    case PixelType::kUint8:
      return 1;
    case PixelType::kInt16:
    case PixelType::kUint16:
      return 2;
    case PixelType::kInt32:
    case PixelType::kFloat32:
      return 4;
  }
  return 0;
}

constexpr const char* PixelTypeName(PixelType type) {
  switch (type) {
    case PixelType::kUint8:
      return "uint8";
    case PixelType::kInt16:
      return "int16";
    case PixelType::kUint16:
      return "uint16";
    case PixelType::kInt32:
      return "int32";
    case PixelType::kFloat32:
      return "float32";
  }
  return "?";
}

}  // namespace tributary::common
