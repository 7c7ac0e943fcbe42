#include "normalize/sidecar.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace tributary::normalize {
namespace {

nlohmann::json ToJson(const common::Metadata& metadata) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : metadata) {
    std::visit([&, &key = key](const auto& v) { out[key] = v; }, value);
  }
  return out;
}

}  // namespace

std::string SidecarJson(const common::Volume& volume) {
  nlohmann::json json = ToJson(volume.metadata);
  nlohmann::json reconstruction = ToJson(volume.reconstruction);
  reconstruction["Dimensions"] = volume.size;
  reconstruction["VoxelSpacing"] = volume.spacing;
  reconstruction["OriginLPS"] = volume.origin;
  reconstruction["DirectionLPS"] = volume.direction;
  json["TributaryReconstruction"] = reconstruction;
  return json.dump(2) + "\n";
}

std::string OutputStem(const common::Volume& volume) {
  std::string protocol;
  for (char c : volume.protocol_name) {
    bool keep =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '=' || c == '+' || c == '.';
    char out = keep ? c : '_';
    if (out == '_' && (protocol.empty() || protocol.back() == '_')) continue;
    protocol.push_back(out);
  }
  while (!protocol.empty() && protocol.back() == '_') protocol.pop_back();
  if (protocol.empty()) protocol = "series";
  return protocol + "_" + std::to_string(volume.series_number) + volume.name_suffix;
}

}  // namespace tributary::normalize
