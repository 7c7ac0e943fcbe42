#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Project-prefixed status macros (Debian's absl 20220623 ships none).
#define TRIB_STATUS_CONCAT_INNER(a, b) a##b
#define TRIB_STATUS_CONCAT(a, b) TRIB_STATUS_CONCAT_INNER(a, b)

#define TRIB_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status trib_status_ = (expr);        \
    if (!trib_status_.ok()) return trib_status_; \
  } while (false)

#define TRIB_ASSIGN_OR_RETURN(lhs, expr) \
  TRIB_ASSIGN_OR_RETURN_IMPL(TRIB_STATUS_CONCAT(trib_statusor_, __LINE__), lhs, expr)

#define TRIB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
