#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "provenance/cohort_records.h"

namespace tributary::provenance {

// W3C PROV-JSON (https://www.w3.org/submissions/prov-json/) of a lineage: entities (uploaded files
// by keyed digest, de-identified instances, derived files, the cohort), activities (upload,
// de-identification, harmonization, export), agents (centres, tokens, software), linked by used,
// wasGeneratedBy, wasDerivedFrom, wasAttributedTo, wasAssociatedWith and actedOnBehalfOf. Every
// prefix used is declared. No PHI: identifiers are digests, de-identified UIDs and row ids.

struct CohortExport {
  std::int64_t id = 0;
  std::string name;
  std::string created_at;
  std::int64_t created_by_token_id = 0;
  std::vector<CohortFileRecord> files;  // the exported tree (paths and blobs)
};

struct ProvDocument {
  std::string json;         // the document
  std::size_t records = 0;  // entities + activities + agents + relations written
  std::string summary;      // the same lineage as text, for people
};

// `software_version` names the software agent of de-identification and export; a derivation's
// own software versions come from its record.
ProvDocument BuildProvDocument(const Lineage& lineage, const std::string& software_version,
                               const CohortExport* cohort = nullptr);

}  // namespace tributary::provenance
