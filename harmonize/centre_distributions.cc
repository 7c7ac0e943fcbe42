#include "harmonize/centre_distributions.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "normalize/distribution_plot.h"

namespace tributary::harmonize {
namespace {

constexpr std::size_t kBins = 64;

struct Histogram {
  double low = 0, high = 0;
  std::vector<double> fractions;
};

std::optional<Histogram> HistogramOf(const nlohmann::json& qc, const std::string& name) {
  auto range = qc.find(name + "Range");
  auto values = qc.find(name);
  if (range == qc.end() || values == qc.end() || !range->is_array() || range->size() != 2 ||
      !values->is_array() || values->empty())
    return std::nullopt;
  Histogram h;
  if (!(*range)[0].is_number() || !(*range)[1].is_number()) return std::nullopt;
  h.low = (*range)[0].get<double>();
  h.high = (*range)[1].get<double>();
  for (const auto& v : *values) {
    if (!v.is_number()) return std::nullopt;
    h.fractions.push_back(v.get<double>());
  }
  if (!(h.high > h.low)) return std::nullopt;
  return h;
}

// The mean of the histograms on a common range, each bin moved to the bin its centre falls in.
normalize::DistributionCurve Mean(const std::string& label, const std::vector<Histogram>& all) {
  normalize::DistributionCurve curve;
  curve.label = label;
  curve.low = all.front().low;
  curve.high = all.front().high;
  for (const Histogram& h : all) {
    curve.low = std::min(curve.low, h.low);
    curve.high = std::max(curve.high, h.high);
  }
  curve.fractions.assign(kBins, 0.0);
  for (const Histogram& h : all) {
    double width = (h.high - h.low) / static_cast<double>(h.fractions.size());
    for (std::size_t b = 0; b < h.fractions.size(); ++b) {
      double centre = h.low + (static_cast<double>(b) + 0.5) * width;
      auto bin = static_cast<std::size_t>((centre - curve.low) / (curve.high - curve.low) * kBins);
      curve.fractions[std::min(bin, kBins - 1)] += h.fractions[b] / static_cast<double>(all.size());
    }
  }
  return curve;
}

}  // namespace

absl::StatusOr<std::vector<CentreDistributions>> CentreDistributionPictures(
    const std::vector<QcRow>& rows) {
  // modality -> stage -> centre -> histograms
  std::map<std::string, std::map<std::string, std::map<std::string, std::vector<Histogram>>>> data;
  std::map<std::string, std::size_t> counted;
  for (const QcRow& row : rows) {
    nlohmann::json qc = nlohmann::json::parse(row.metrics_json, nullptr, false);
    if (!qc.is_object()) continue;
    bool any = false;
    for (const char* stage : {"HistogramBefore", "HistogramAfter"}) {
      if (auto h = HistogramOf(qc, stage)) {
        data[row.modality][stage][row.centre].push_back(std::move(*h));
        any = true;
      }
    }
    counted[row.modality] += any ? 1 : 0;
  }
  std::vector<CentreDistributions> out;
  for (const auto& [modality, stages] : data) {
    std::vector<normalize::DistributionPanel> panels;
    for (const auto& [stage, title] :
         {std::pair{"HistogramBefore", "before harmonization (scanner values)"},
          std::pair{"HistogramAfter", "after harmonization"}}) {
      auto it = stages.find(stage);
      if (it == stages.end()) continue;
      normalize::DistributionPanel panel{title, {}};
      for (const auto& [centre, histograms] : it->second) {
        panel.curves.push_back(Mean(centre + " (" + std::to_string(histograms.size()) +
                                        (histograms.size() == 1 ? " volume)" : " volumes)"),
                                    histograms));
      }
      panels.push_back(std::move(panel));
    }
    TRIB_ASSIGN_OR_RETURN(
        std::string png,
        normalize::DistributionPlotPng(modality + ": intensity distribution by centre", panels));
    out.push_back({modality, std::move(png), counted[modality]});
  }
  return out;
}

}  // namespace tributary::harmonize
