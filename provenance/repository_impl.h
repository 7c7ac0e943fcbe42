#pragma once

// Internal to provenance/: the repository's connection pool and transaction runner, shared by the
// files that implement Repository's parts (repository.cc, cohort_repository.cc). libpqxx appears
// only in provenance/*.cc and here.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "provenance/repository.h"

namespace tributary::provenance {

// What a client may do about a statement PostgreSQL refused (SQLSTATE, Appendix A of its manual):
// retry a serialization failure or deadlock (ABORTED) or a statement whose outcome is unknown
// (UNAVAILABLE); never a constraint violation, bad data or anything else, which would fail again.
inline absl::Status StatusForSqlState(const std::string& state, const char* what) {
  auto in_class = [&](std::string_view prefix) { return state.rfind(prefix, 0) == 0; };
  if (state == "40001" || state == "40P01")
    return absl::AbortedError(std::string("database transaction rolled back, retry: ") + what);
  if (state == "40003" || state == "53300")  // statement completion unknown; too many connections
    return absl::UnavailableError(std::string("database unavailable: ") + what);
  if (state == "23505") return absl::AlreadyExistsError(std::string("already exists: ") + what);
  if (in_class("23") || state == "40002")
    return absl::FailedPreconditionError(std::string("constraint violated: ") + what);
  if (in_class("22")) return absl::InvalidArgumentError(std::string("invalid value: ") + what);
  return absl::InternalError(std::string("database error: ") + what);
}

// A PostgreSQL array literal for a $n::bigint[] or $n::text[] parameter: numbers as they are,
// text quoted (so that commas, braces and quotes stay inside their element).
template <typename Values>
std::string ArrayLiteral(const Values& values) {
  std::string array = "{";
  for (const auto& value : values) {
    if (array.size() > 1) array += ",";
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(value)>>) {
      array += std::to_string(value);
    } else {
      array += '"';
      for (char c : value) {
        if (c == '"' || c == '\\') array += '\\';
        array += c;
      }
      array += '"';
    }
  }
  return array + "}";
}

// A timestamptz column as UTC ISO 8601 text with milliseconds, "" for NULL.
inline std::string Timestamp(const std::string& column) {
  return "coalesce(to_char(" + column +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')";
}

struct Repository::Impl {
  std::string url;
  int max_connections;
  std::mutex mutex;
  std::condition_variable available;
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  int open = 0;
  std::int64_t waits = 0;
  double wait_seconds = 0;

  // Prepares the statements every connection of the pool carries (repository.cc).
  static void Prepare(pqxx::connection& connection);

  // Runs `body(transaction)` in one transaction on a pooled connection; maps every libpqxx and
  // standard exception to a status. A connection that failed is dropped, not returned to the pool.
  // With pqxx::nontransaction each statement commits on its own: one round trip for a body of one
  // statement, no BEGIN and COMMIT.
  template <typename Transaction = pqxx::work, typename Body>
  auto Transact(Body body) -> absl::StatusOr<decltype(body(std::declval<Transaction&>()))> {
    std::unique_ptr<pqxx::connection> connection;
    {
      std::unique_lock lock(mutex);
      auto ready = [&] { return !idle.empty() || open < max_connections; };
      if (!ready()) {
        ++waits;
        auto start = std::chrono::steady_clock::now();
        available.wait(lock, ready);
        wait_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      if (!idle.empty()) {
        connection = std::move(idle.back());
        idle.pop_back();
      } else {
        ++open;
      }
    }
    bool healthy = false;
    auto release = [&] {
      std::lock_guard lock(mutex);
      if (healthy && connection && connection->is_open()) {
        idle.push_back(std::move(connection));
      } else {
        --open;
      }
      available.notify_one();
    };
    try {
      if (!connection) {
        connection = std::make_unique<pqxx::connection>(url);
        Prepare(*connection);
      }
      Transaction work(*connection);

      auto value = body(work);
      work.commit();
      healthy = true;
      release();
      return value;
    } catch (const pqxx::broken_connection& e) {
      release();
      return absl::UnavailableError(std::string("database unavailable: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
      release();
      return absl::UnavailableError(std::string("database commit outcome unknown: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      std::string state = e.sqlstate();
      // libpqxx reports some losses of the connection with no SQLSTATE at all.
      bool lost = state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 ||
                  (state.empty() && (!connection || !connection->is_open()));
      healthy = !lost;
      release();
      return lost ? absl::UnavailableError(std::string("database unavailable: ") + e.what())
                  : StatusForSqlState(state, e.what());
    } catch (const std::exception& e) {
      // A libpqxx usage or conversion error, or the body's own: a bug, not worth a retry.
      release();
      return absl::InternalError(std::string("database client error: ") + e.what());
    }
  }
};

}  // namespace tributary::provenance
