#include "services/rpc_roles.h"

#include <algorithm>
#include <array>

namespace tributary::services {
namespace {

constexpr unsigned kUploader = static_cast<unsigned>(RoleBit::kUploader);
constexpr unsigned kResearcher = static_cast<unsigned>(RoleBit::kResearcher);
constexpr unsigned kOperator = static_cast<unsigned>(RoleBit::kOperator);
constexpr bool kReads = false;
constexpr bool kChanges = true;

constexpr std::array kRules = {
    // Uploaders: their centre's uploads and studies (the centre is the token's, never a field).
    RpcRule{"/tributary.v1.Ingest/Upload", kUploader, kChanges},
    RpcRule{"/tributary.v1.Ingest/FindStored", kUploader, kReads},
    RpcRule{"/tributary.v1.Ingest/CompleteStudy", kUploader, kChanges},
    RpcRule{"/tributary.v1.Admin/ListStudies", kUploader | kOperator, kReads},
    RpcRule{"/tributary.v1.Admin/GetStudy", kUploader | kOperator, kReads},
    // Operators: centres, tokens, the audit log.
    RpcRule{"/tributary.v1.Admin/AddCentre", kOperator, kChanges},
    RpcRule{"/tributary.v1.Admin/ListCentres", kOperator, kReads},
    RpcRule{"/tributary.v1.Admin/SetCentrePolicy", kOperator, kChanges},
    RpcRule{"/tributary.v1.Security/CreateToken", kOperator, kChanges},
    RpcRule{"/tributary.v1.Security/ListTokens", kOperator, kReads},
    RpcRule{"/tributary.v1.Security/RevokeToken", kOperator, kChanges},
    RpcRule{"/tributary.v1.Security/ListAudit", kOperator, kReads},
    // Studies more than one centre sent: for operators and researchers (cohorts exclude them).
    RpcRule{"/tributary.v1.Admin/ListCrossCentreDuplicates", kResearcher | kOperator, kReads},
    // Harmonization: researchers query harmonized series and download derived files; the queue,
    // recipes, models and reprocessing are the operators'.
    RpcRule{"/tributary.v1.Harmonization/ListSeries", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/GetSeries", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/GetBlob", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/ListJobs", kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/RetryJobs", kOperator, kChanges},
    RpcRule{"/tributary.v1.Harmonization/GetQueueStatus", kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/ListRecipes", kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/GetRecipe", kOperator, kReads},
    RpcRule{"/tributary.v1.Harmonization/AddRecipe", kOperator, kChanges},
    RpcRule{"/tributary.v1.Harmonization/AssignRecipe", kOperator, kChanges},
    RpcRule{"/tributary.v1.Harmonization/AddModel", kOperator, kChanges},
    RpcRule{"/tributary.v1.Harmonization/Reprocess", kOperator, kChanges},
    // Cohorts: researchers query, freeze and export harmonized data and trace its lineage;
    // operators too. A snapshot is a change (it is recorded), the rest reads.
    RpcRule{"/tributary.v1.Cohorts/QueryVolumes", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Cohorts/CreateCohort", kResearcher | kOperator, kChanges},
    RpcRule{"/tributary.v1.Cohorts/ListCohorts", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Cohorts/GetCohort", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Cohorts/ExportCohort", kResearcher | kOperator, kReads},
    RpcRule{"/tributary.v1.Cohorts/GetProvenance", kResearcher | kOperator, kReads},
};

}  // namespace

std::span<const RpcRule> RpcRoles() { return kRules; }

const RpcRule* FindRpcRule(std::string_view method) {
  auto it = std::find_if(kRules.begin(), kRules.end(),
                         [method](const RpcRule& rule) { return rule.method == method; });
  return it == kRules.end() ? nullptr : &*it;
}

}  // namespace tributary::services
