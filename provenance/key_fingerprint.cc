#include "provenance/key_fingerprint.h"

#include <optional>
#include <pqxx/pqxx>

namespace tributary::provenance {
namespace {

constexpr const char* kRefusal =
    "the de-identification key differs from the one this database was first used with (key "
    "fingerprint recorded %s, this key's %s): pseudonyms and UIDs would no longer match earlier "
    "studies. Start with the original --key-file; to change the key on purpose, see \"Changing the "
    "key\" in docs/SERVER.md (tributary-server --rotate-key-fingerprint)";

std::string Short(const std::string& fingerprint) { return fingerprint.substr(0, 16); }

std::string Refusal(const std::string& recorded, const std::string& given) {
  std::string message = kRefusal;
  message.replace(message.find("%s"), 2, Short(recorded));
  message.replace(message.find("%s"), 2, Short(given));
  return message;
}

template <typename F>
absl::Status InTransaction(const std::string& database_url, F body) {
  try {
    pqxx::connection connection(database_url);
    pqxx::work w(connection);
    w.exec("LOCK TABLE key_fingerprint IN EXCLUSIVE MODE");
    absl::Status status = body(w);
    if (status.ok()) w.commit();
    return status;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(std::string("database unavailable: ") + e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("key fingerprint: ") + e.what());
  }
}

std::optional<std::string> Recorded(pqxx::work& w) {
  pqxx::result r = w.exec("SELECT fingerprint FROM key_fingerprint");
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

}  // namespace

absl::Status KeyFingerprint::Check(const std::string& database_url,
                                   const std::string& fingerprint) {
  return InTransaction(database_url, [&](pqxx::work& w) {
    std::optional<std::string> recorded = Recorded(w);
    if (!recorded) {
      w.exec_params("INSERT INTO key_fingerprint (fingerprint) VALUES ($1)", fingerprint);
      return absl::OkStatus();
    }
    if (*recorded != fingerprint)
      return absl::FailedPreconditionError(Refusal(*recorded, fingerprint));
    return absl::OkStatus();
  });
}

absl::Status KeyFingerprint::Rotate(const std::string& database_url,
                                    const std::string& old_fingerprint,
                                    const std::string& new_fingerprint) {
  return InTransaction(database_url, [&](pqxx::work& w) {
    std::optional<std::string> recorded = Recorded(w);
    if (recorded && *recorded != old_fingerprint) {
      return absl::FailedPreconditionError(
          "--old-key-file is not the key this database uses (key fingerprint recorded " +
          Short(*recorded) + ", --old-key-file's " + Short(old_fingerprint) +
          "): nothing was changed");
    }
    w.exec_params(
        "INSERT INTO key_fingerprint (fingerprint) VALUES ($1) ON CONFLICT (singleton) DO UPDATE "
        "SET fingerprint = EXCLUDED.fingerprint, recorded_at = now()",
        new_fingerprint);
    w.exec_params("INSERT INTO key_rotations (old_fingerprint, new_fingerprint) VALUES ($1, $2)",
                  old_fingerprint, new_fingerprint);
    return absl::OkStatus();
  });
}

}  // namespace tributary::provenance
