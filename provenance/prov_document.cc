#include "provenance/prov_document.h"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace tributary::provenance {
namespace {

using nlohmann::json;

// PROV-JSON gives the times of activities and events as plain xsd:dateTime strings.
json DateTime(const std::string& iso) { return iso; }

class Builder {
 public:
  Builder() {
    doc_["prefix"] = {{"prov", "http://www.w3.org/ns/prov#"},
                      {"xsd", "http://www.w3.org/2001/XMLSchema#"},
                      {"trb", "urn:tributary:"},
                      {"file", "urn:tributary:file:"},
                      {"instance", "urn:tributary:instance:"},
                      {"original", "urn:tributary:original:"},
                      {"activity", "urn:tributary:activity:"},
                      {"agent", "urn:tributary:agent:"}};
  }
  // Adds a record once; later adds of the same id are ignored.
  void Add(const char* kind, const std::string& id, json attributes) {
    json& section = doc_[kind];
    if (section.is_null()) section = json::object();
    if (section.contains(id)) return;
    section[id] = std::move(attributes);
    ++records_;
  }
  void Relate(const char* kind, json attributes) {
    std::string key = attributes.dump();
    if (!relations_.insert(std::string(kind) + key).second) return;
    Add(kind, "_:r" + std::to_string(++relation_ids_), std::move(attributes));
  }
  ProvDocument Finish(std::string summary) {
    return {doc_.dump(1) + "\n", records_, std::move(summary)};
  }

 private:
  json doc_ = json::object();
  std::size_t records_ = 0;
  std::size_t relation_ids_ = 0;
  std::set<std::string> relations_;
};

std::string CentreAgent(const std::string& centre) { return "agent:centre-" + centre; }
std::string TokenAgent(std::int64_t id) { return "agent:token-" + std::to_string(id); }
std::string Software(const std::string& version) { return "agent:tributary-" + version; }

}  // namespace

ProvDocument BuildProvDocument(const Lineage& lineage, const std::string& software_version,
                               const CohortExport* cohort) {
  Builder b;
  std::ostringstream text;
  const std::string tributary = Software(software_version);
  b.Add("agent", tributary,
        {{"prov:type", "prov:SoftwareAgent"}, {"prov:label", "tributary " + software_version}});

  std::map<std::int64_t, const LineageMethod*> methods;
  for (const LineageMethod& m : lineage.methods) methods[m.id] = &m;
  for (const LineageUpload& u : lineage.uploads) {
    std::string activity = "activity:upload-" + std::to_string(u.id);
    b.Add("agent", CentreAgent(u.centre),
          {{"prov:type", "prov:Organization"}, {"prov:label", u.centre}});
    b.Add("agent", TokenAgent(u.token_id), {{"prov:type", "trb:Token"}});
    b.Relate("actedOnBehalfOf", {{"prov:delegate", TokenAgent(u.token_id)},
                                 {"prov:responsible", CentreAgent(u.centre)}});
    b.Add("activity", activity,
          {{"prov:type", "trb:Upload"},
           {"prov:startTime", DateTime(u.started_at)},
           {"prov:endTime", DateTime(u.last_seen_at)}});
    b.Relate("wasAssociatedWith",
             {{"prov:activity", activity}, {"prov:agent", TokenAgent(u.token_id)}});
    text << "upload " << u.id << ": centre " << u.centre << ", token " << u.token_id << ", "
         << u.started_at << " to " << u.last_seen_at << "\n";
  }
  for (const LineageInstance& i : lineage.instances) {
    std::string original = "original:" + i.original_digest;
    std::string instance = "instance:" + i.blob_sha256;
    std::string upload = "activity:upload-" + std::to_string(i.upload_id);
    std::string deid = "activity:deidentification-" + std::to_string(i.upload_id) + "-" +
                       std::to_string(i.deid_method_id);
    b.Add("entity", original,
          {{"prov:type", "trb:UploadedFile"},
           {"trb:digest", "HMAC-SHA-256 of the original's SHA-256 (the original is not kept)"}});
    b.Relate("wasAttributedTo", {{"prov:entity", original}, {"prov:agent", CentreAgent(i.centre)}});
    b.Relate("wasGeneratedBy", {{"prov:entity", original}, {"prov:activity", upload}});
    json method = json::object();
    if (auto it = methods.find(i.deid_method_id); it != methods.end()) {
      method = {{"trb:profile", it->second->profile_edition},
                {"trb:options", it->second->options},
                {"trb:software", it->second->software_version}};
    }
    json deid_attributes = {{"prov:type", "trb:Deidentification"}};
    deid_attributes.update(method);
    b.Add("activity", deid, deid_attributes);
    b.Relate("wasAssociatedWith", {{"prov:activity", deid}, {"prov:agent", tributary}});
    b.Relate("used", {{"prov:activity", deid}, {"prov:entity", original}});
    b.Add("entity", instance,
          {{"prov:type", "trb:DeidentifiedInstance"},
           {"trb:sopInstanceUid", i.sop_instance_uid},
           {"trb:sha256", i.blob_sha256}});
    b.Relate(
        "wasGeneratedBy",
        {{"prov:entity", instance}, {"prov:activity", deid}, {"prov:time", DateTime(i.stored_at)}});
    b.Relate("wasDerivedFrom", {{"prov:generatedEntity", instance}, {"prov:usedEntity", original}});
    b.Relate("wasAttributedTo", {{"prov:entity", instance}, {"prov:agent", CentreAgent(i.centre)}});
  }
  if (!lineage.instances.empty()) {
    std::map<std::int64_t, std::size_t> per_method;
    for (const LineageInstance& i : lineage.instances) ++per_method[i.deid_method_id];
    for (const auto& [id, count] : per_method) {
      auto it = methods.find(id);
      if (it == methods.end()) continue;
      text << "de-identification: " << count << " instance(s), " << it->second->profile_edition
           << " [" << it->second->options << "], " << it->second->software_version << "\n";
    }
  }

  std::map<std::string, std::string> derived_entity;  // blob -> entity id
  for (const LineageDerivation& d : lineage.derivations) {
    std::string activity = "activity:harmonization-" + std::to_string(d.id);
    std::string worker = "agent:worker-" + d.worker;
    for (std::size_t k = std::string("agent:").size(); k < worker.size(); ++k) {
      if (!std::isalnum(static_cast<unsigned char>(worker[k])) && worker[k] != '.' &&
          worker[k] != '-' && worker[k] != '_')
        worker[k] = '-';
    }
    json software = json::parse(d.software_versions_json, nullptr, false);
    b.Add("activity", activity,
          {{"prov:type", "trb:Harmonization"},
           {"prov:endTime", DateTime(d.created_at)},
           {"trb:recipe", d.recipe_name},
           {"trb:recipeSha256", d.recipe_sha256},
           {"trb:modelSha256", d.model_sha256},
           {"trb:series", d.series_uid},
           {"trb:software", software.is_object() ? software.dump() : std::string("{}")}});
    b.Add("agent", worker, {{"prov:type", "prov:SoftwareAgent"}, {"prov:label", d.worker}});
    b.Relate("wasAssociatedWith", {{"prov:activity", activity}, {"prov:agent", worker}});
    b.Relate("actedOnBehalfOf", {{"prov:delegate", worker}, {"prov:responsible", tributary}});
    for (const std::string& input : d.input_blob_sha256s) {
      b.Relate("used", {{"prov:activity", activity}, {"prov:entity", "instance:" + input}});
    }
    for (const DerivationOutput& o : d.outputs) {
      std::string file = "file:" + o.blob_sha256;
      derived_entity[o.blob_sha256] = file;
      b.Add("entity", file,
            {{"prov:type", "trb:DerivedFile"},
             {"trb:role", o.role},
             {"trb:name", o.name},
             {"trb:sha256", o.blob_sha256},
             {"trb:size", o.size}});
      b.Relate("wasGeneratedBy", {{"prov:entity", file}, {"prov:activity", activity}});
      for (const std::string& input : d.input_blob_sha256s) {
        b.Relate("wasDerivedFrom",
                 {{"prov:generatedEntity", file}, {"prov:usedEntity", "instance:" + input}});
      }
    }
    text << "derivation " << d.id << ": series " << d.series_uid << ", recipe " << d.recipe_name
         << " (" << d.recipe_sha256.substr(0, 12) << ")"
         << (d.model_sha256.empty() ? "" : ", model " + d.model_sha256.substr(0, 12)) << ", worker "
         << d.worker << ", " << d.created_at << ", " << d.input_blob_sha256s.size()
         << " instance(s) in, " << d.outputs.size() << " file(s) out"
         << (software.is_object() ? ", software " + software.dump() : "") << "\n";
  }

  if (cohort != nullptr) {
    std::string entity = "trb:cohort-" + std::to_string(cohort->id);
    std::string activity = "activity:export-cohort-" + std::to_string(cohort->id);
    b.Add("entity", entity,
          {{"prov:type", "prov:Collection"},
           {"prov:label", cohort->name},
           {"trb:files", cohort->files.size()}});
    b.Add("activity", activity,
          {{"prov:type", "trb:Export"}, {"prov:startTime", DateTime(cohort->created_at)}});
    b.Relate("wasAssociatedWith", {{"prov:activity", activity}, {"prov:agent", tributary}});
    if (cohort->created_by_token_id != 0) {
      b.Add("agent", TokenAgent(cohort->created_by_token_id), {{"prov:type", "trb:Token"}});
      b.Relate("wasAssociatedWith", {{"prov:activity", activity},
                                     {"prov:agent", TokenAgent(cohort->created_by_token_id)}});
      b.Relate("wasAttributedTo",
               {{"prov:entity", entity}, {"prov:agent", TokenAgent(cohort->created_by_token_id)}});
    }
    b.Relate("wasGeneratedBy", {{"prov:entity", entity}, {"prov:activity", activity}});
    for (const CohortFileRecord& f : cohort->files) {
      auto it = derived_entity.find(f.blob_sha256);
      if (it == derived_entity.end()) continue;
      b.Relate("used", {{"prov:activity", activity}, {"prov:entity", it->second}});
      b.Relate("hadMember", {{"prov:collection", entity}, {"prov:entity", it->second}});
    }
    text << "cohort " << cohort->id << " '" << cohort->name << "': " << cohort->files.size()
         << " file(s), created " << cohort->created_at
         << (cohort->created_by_token_id
                 ? " by token " + std::to_string(cohort->created_by_token_id)
                 : std::string())
         << "\n";
  }
  return b.Finish(text.str());
}

}  // namespace tributary::provenance
