#pragma once

#include <cstdint>
#include <string>

#include "provenance/records.h"

// Tokens and the audit log, as the repository exchanges them; no secrets and no PHI.
namespace tributary::provenance {

const char* RoleName(Role role);

struct TokenInfo {
  std::int64_t id = 0;
  Role role = Role::kUploader;
  std::string centre;  // uploaders only
  std::string name;
  std::string created_at;       // RFC 3339, UTC
  std::string expires_at;       // empty: never
  std::string revoked_at;       // empty: not revoked
  std::int64_t created_by = 0;  // the token that created it; 0: centres add or the server itself
};

struct NewToken {
  Role role = Role::kUploader;
  std::string centre;  // required for uploaders, refused for the others
  std::string name;
  std::int64_t expires_in_seconds = 0;  // 0: never
  std::string token_sha256;
  std::int64_t created_by = 0;
};

// One call: who, what (the RPC and object ids, never PHI), when, outcome, from where.
struct AuditEntry {
  std::int64_t id = 0;
  std::string at;                   // RFC 3339 with microseconds, UTC
  std::int64_t at_unix_micros = 0;  // what is written
  std::int64_t token_id = 0;        // 0: no valid token
  std::string role;                 // empty: not authenticated
  std::int64_t centre_id = 0;
  std::string centre;
  std::string rpc;
  std::string object;
  std::string outcome;  // a gRPC status code name: OK, PERMISSION_DENIED, ...
  std::string peer;
};

struct AuditFilter {
  std::string since;  // RFC 3339 (or anything PostgreSQL reads as timestamptz); empty: all
  std::int64_t token_id = 0;
  std::string rpc;  // full name or its last part ("GetStudy")
  int limit = 1000;
};

}  // namespace tributary::provenance
