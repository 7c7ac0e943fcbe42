#include "harmonize/bids_layout.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

namespace tributary::harmonize {
namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::optional<double> NumberAt(const nlohmann::json& sidecar, const char* key) {
  auto it = sidecar.find(key);
  if (it == sidecar.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string TextAt(const nlohmann::json& sidecar, const char* key) {
  auto it = sidecar.find(key);
  return it != sidecar.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Milliseconds(double seconds) {
  return std::to_string(static_cast<long>(seconds * 1000 + 0.5)) + " ms";
}

bool IsLabel(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isalnum(c) != 0; });
}

// The file of `volume` named <stem><ending>, or null.
const LayoutFile* FileEnding(const LayoutVolume& volume, const std::string& ending) {
  for (const LayoutFile& f : volume.files) {
    if (f.name == volume.stem + ending) return &f;
  }
  return nullptr;
}

}  // namespace

BidsName NameForVolume(const std::string& modality, const std::string& sidecar_json,
                       bool has_gradients) {
  if (modality == "CT") return {"ct", "ct", "modality CT (BIDS extension proposal BEP024)", false};
  if (modality == "PT") {
    return {"pet", "pet", "modality PT (BIDS-PET; its required tracer fields are not kept)", false};
  }
  if (modality != "MR") return {"other", Lower(modality), "modality " + modality, false};
  if (has_gradients) return {"dwi", "dwi", "diffusion gradients (.bval/.bvec)", true};

  nlohmann::json sidecar = nlohmann::json::parse(sidecar_json, nullptr, false);
  if (!sidecar.is_object()) sidecar = nlohmann::json::object();
  // A time series without diffusion gradients (fMRI, perfusion...) or an echo-planar series is
  // not anatomy: BIDS' func needs a task name Tributary does not know.
  nlohmann::json dims;
  if (auto r = sidecar.find("TributaryReconstruction"); r != sidecar.end() && r->is_object()) {
    if (auto d = r->find("Dimensions"); d != r->end()) dims = *d;
  }
  if (dims.is_array() && dims.size() == 4 && dims[3].is_number() && dims[3].get<double>() > 1) {
    return {"mr-other", "mr",
            std::to_string(dims[3].get<long>()) + " volumes without diffusion gradients", false};
  }
  if (TextAt(sidecar, "ScanningSequence").find("EP") != std::string::npos) {
    return {"mr-other", "mr", "echo planar without diffusion gradients", false};
  }
  const std::string protocol = TextAt(sidecar, "ProtocolName");
  const std::string description = TextAt(sidecar, "SeriesDescription");
  const std::string names =
      Lower(protocol + (protocol.empty() || description.empty() ? "" : " ") + description);
  // Words as scanners name them: t1_mprage_sag, T2W_TSE, sT1W_3D_TFE (Philips' SENSE prefix),
  // Ax FLAIR, t2_tirm_tra_dark-fluid (Siemens' FLAIR), PD_FSE, 3D_BRAVO.
  auto has = [&](const char* pattern) {
    return std::regex_search(names, std::regex(pattern, std::regex::icase));
  };
  const std::string by_name = "series name '" + names + "'";
  // BIDS' FLAIR is the T2-FLAIR; a T1 FLAIR (GE's Ax T1 FLAIR) is T1-weighted.
  if (has("flair|dark.?fluid")) {
    return {"anat", has("(^|[^a-z0-9])s?t1") ? "T1w" : "FLAIR", by_name, true};
  }
  if (has("(^|[^a-z0-9])s?(t2\\*|t2star|swi|gre_t2)")) return {"anat", "T2starw", by_name, true};
  if (has("(^|[^a-z0-9])pd([^a-z]|$)|proton.density")) return {"anat", "PDw", by_name, true};
  if (has("(^|[^a-z0-9])s?t2")) return {"anat", "T2w", by_name, true};
  if (has("(^|[^a-z0-9])s?t1|mprage|mp-rage|spgr|bravo|tfl3d|fspgr|vibe")) {
    return {"anat", "T1w", by_name, true};
  }
  // Else the timing, as radiologists read it: short TE is T1-weighted (spin echo with short TR,
  // or inversion-prepared gradient echo); long TE is T2-weighted, FLAIR with a long inversion.
  std::optional<double> te = NumberAt(sidecar, "EchoTime");
  std::optional<double> tr = NumberAt(sidecar, "RepetitionTime");
  std::optional<double> ti = NumberAt(sidecar, "InversionTime");
  if (te && tr) {
    std::string timing = "EchoTime " + Milliseconds(*te) + ", RepetitionTime " + Milliseconds(*tr) +
                         (ti ? ", InversionTime " + Milliseconds(*ti) : "");
    if (*te >= 0.06 && ti && *ti >= 1.5) return {"anat", "FLAIR", timing, true};
    if (*te >= 0.06 && *tr >= 1.5) return {"anat", "T2w", timing, true};
    if (*te <= 0.02 && (*tr <= 0.8 || (ti && *ti > 0 && *ti < 1.5)))
      return {"anat", "T1w", timing, true};
    if (*te <= 0.03 && *tr >= 1.5 && !ti) return {"anat", "PDw", timing, true};
    return {"mr-other", "mr", timing + ": contrast undetermined", false};
  }
  return {"mr-other", "mr", "no series name or timing tells the contrast", false};
}

absl::StatusOr<Layout> PlanLayout(const std::vector<LayoutVolume>& volumes) {
  Layout layout;
  // Sessions: a subject's studies in date order (then id), numbered from 1.
  std::map<std::string, std::set<std::tuple<std::string, std::int64_t>>> studies;
  for (const LayoutVolume& v : volumes) {
    if (!IsLabel(v.subject))
      return absl::InvalidArgumentError("subject '" + v.subject + "' is no BIDS label");
    if (FileEnding(v, ".nii.gz") == nullptr && FileEnding(v, ".nii") == nullptr)
      return absl::InvalidArgumentError("volume " + v.stem + " has no NIfTI");
    studies[v.subject].insert({v.study_date, v.study_id});
  }
  auto session_of = [&](const LayoutVolume& v) {
    const auto& set = studies[v.subject];
    auto it = set.find({v.study_date, v.study_id});
    return std::to_string(std::distance(set.begin(), it) + 1);
  };

  // Volumes that would share a name get run-1, run-2, ... in (derivation, stem) order.
  struct Named {
    BidsName name;
    std::string subject, session;
  };
  std::vector<Named> named;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::vector<std::size_t>>
      groups;
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const LayoutVolume& v = volumes[i];
    bool gradients = FileEnding(v, ".bval") != nullptr && FileEnding(v, ".bvec") != nullptr;
    Named n{NameForVolume(v.modality, v.sidecar_json, gradients), v.subject, session_of(v)};
    groups[{n.subject, n.session, n.name.datatype, n.name.suffix}].push_back(i);
    named.push_back(std::move(n));
  }
  std::vector<std::string> runs(volumes.size());
  for (auto& [key, members] : groups) {
    if (members.size() < 2) continue;
    std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      return std::tie(volumes[a].derivation_id, volumes[a].stem) <
             std::tie(volumes[b].derivation_id, volumes[b].stem);
    });
    for (std::size_t k = 0; k < members.size(); ++k)
      runs[members[k]] = "_run-" + std::to_string(k + 1);
  }

  std::set<std::string> ignored_types;
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const LayoutVolume& v = volumes[i];
    const Named& n = named[i];
    std::string folder = "sub-" + n.subject + "/ses-" + n.session + "/" + n.name.datatype + "/";
    std::string base = "sub-" + n.subject + "_ses-" + n.session + runs[i] + "_" + n.name.suffix;
    PlacedVolume placed{n.subject, n.session, n.name.datatype, n.name.suffix,
                        "",        "",        n.name.reason,   !n.name.in_standard};
    for (const LayoutFile& f : v.files) {
      std::string ending = f.name.substr(std::min(v.stem.size(), f.name.size()));
      std::string path;
      if (ending == "_qc.png") {
        path = "qc/" + base + "_qc.png";
        placed.qc_path = path;
      } else if (ending == ".nii.gz" || ending == ".nii" || ending == ".json" ||
                 ending == ".bval" || ending == ".bvec") {
        path = folder + base + ending;
        if (ending.rfind(".nii", 0) == 0) placed.image_path = path;
      } else {
        continue;  // not a file of the volume
      }
      layout.files.push_back({path, f.sha256, f.size});
    }
    if (!n.name.in_standard) ignored_types.insert(n.name.datatype);
    layout.volumes.push_back(std::move(placed));
  }
  std::sort(layout.files.begin(), layout.files.end(),
            [](const PlacedFile& a, const PlacedFile& b) { return a.path < b.path; });
  for (std::size_t i = 1; i < layout.files.size(); ++i) {
    if (layout.files[i].path == layout.files[i - 1].path)
      return absl::InternalError("two files would be " + layout.files[i].path);
  }
  // Not (yet) in the BIDS standard: the validator is told to leave them alone.
  for (const std::string& type : ignored_types)
    layout.bidsignore.push_back("sub-*/ses-*/" + type + "/");
  layout.bidsignore.push_back("qc/");
  return layout;
}

}  // namespace tributary::harmonize
