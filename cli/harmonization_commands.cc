#include "cli/harmonization_commands.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/remote_commands.h"
#include "common/hash.h"
#include "common/status.h"
#include "tributary/v1/harmonization.grpc.pb.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;
using Stub = v1::Harmonization::Stub;

constexpr std::chrono::seconds kDeadline{30};
constexpr std::chrono::seconds kDownloadDeadline{600};

template <typename Call>
int Invoke(const std::string& name, const ClientOptions& options, Call call) {
  auto stub = v1::Harmonization::NewStub(MakeChannel(options));
  grpc::ClientContext context;
  PrepareContext(context, options, kDeadline);
  grpc::Status status = call(*stub, context);
  return status.ok() ? 0 : ReportRpcError(name, status);
}

std::string StateName(v1::JobState state) {
  switch (state) {
    case v1::QUEUED:
      return "queued";
    case v1::RUNNING:
      return "running";
    case v1::DONE:
      return "done";
    case v1::FAILED:
      return "failed";
    default:
      return "?";
  }
}

nlohmann::json ParsedOrText(const std::string& json) {
  if (json.empty()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(json);
  } catch (...) {
    return json;
  }
}

nlohmann::json JobJson(const v1::Job& j) {
  return {{"id", j.id()},
          {"series_id", j.series_id()},
          {"series_instance_uid", j.series_instance_uid()},
          {"modality", j.modality()},
          {"recipe", j.recipe_name()},
          {"recipe_sha256", j.recipe_sha256()},
          {"model_sha256", j.model_sha256()},
          {"state", StateName(j.state())},
          {"attempts", j.attempts()},
          {"max_attempts", j.max_attempts()},
          {"next_attempt_at", j.next_attempt_at()},
          {"lease_owner", j.lease_owner()},
          {"lease_expires_at", j.lease_expires_at()},
          {"last_error", j.last_error()},
          {"created_at", j.created_at()},
          {"started_at", j.started_at()},
          {"finished_at", j.finished_at()}};
}

nlohmann::json SeriesJson(const v1::SeriesInfo& s) {
  return {{"id", s.id()},
          {"study_id", s.study_id()},
          {"study_instance_uid", s.study_instance_uid()},
          {"centre", s.centre()},
          {"series_instance_uid", s.series_instance_uid()},
          {"modality", s.modality()},
          {"instances", s.instance_count()}};
}

nlohmann::json DerivationJson(const v1::Derivation& d) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : d.outputs()) {
    outputs.push_back(
        {{"role", o.role()}, {"name", o.name()}, {"sha256", o.blob_sha256()}, {"size", o.size()}});
  }
  return {{"id", d.id()},
          {"job_id", d.job_id()},
          {"recipe", d.recipe_name()},
          {"recipe_sha256", d.recipe_sha256()},
          {"model_sha256", d.model_sha256()},
          {"inputs", d.input_blob_sha256_size()},
          {"outputs", outputs},
          {"qc_metrics", ParsedOrText(d.qc_metrics_json())},
          {"software_versions", ParsedOrText(d.software_versions_json())},
          {"timings", ParsedOrText(d.timings_json())},
          {"worker", d.worker()},
          {"created_at", d.created_at()}};
}

absl::StatusOr<std::string> ReadDocument(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Fetches one derived blob into `path` (temporary name, then renamed), checking its SHA-256.
grpc::Status Download(Stub& stub, const ClientOptions& options, std::int64_t series_id,
                      const v1::DerivationOutput& output, const fs::path& path) {
  grpc::ClientContext context;
  PrepareContext(context, options, kDownloadDeadline);
  v1::GetBlobRequest request;
  request.set_series_id(series_id);
  request.set_sha256(output.blob_sha256());
  auto reader = stub.GetBlob(&context, request);
  std::string bytes;
  v1::BlobChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data();
  grpc::Status status = reader->Finish();
  if (!status.ok()) return status;
  if (ToHex(Sha256(bytes)) != output.blob_sha256() ||
      static_cast<std::int64_t>(bytes.size()) != output.size()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        output.name() + ": the bytes received do not match its SHA-256");
  }
  fs::path temp = path.string() + ".part";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot write " + temp.string());
    }
  }
  std::error_code error;
  fs::rename(temp, path, error);
  if (error) return grpc::Status(grpc::StatusCode::INTERNAL, "cannot rename to " + path.string());
  return grpc::Status::OK;
}

void AddJobsCommands(CLI::App& app, int& exit_code) {
  CLI::App* jobs = app.add_subcommand("jobs", RemoteCommandDescription("jobs"));
  jobs->require_subcommand(1);

  auto list_options = std::make_shared<ClientOptions>();
  auto state = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(1000);
  CLI::App* list = jobs->add_subcommand("list", "List harmonization jobs, oldest first");
  list->add_option("--state", *state, "Only jobs in this state")
      ->check(CLI::IsMember({"queued", "running", "done", "failed"}));
  list->add_option("--limit", *limit, "At most this many jobs")->capture_default_str();
  AddClientOptions(*list, *list_options);
  list->callback([list_options, state, limit, &exit_code] {
    exit_code = Invoke("jobs list", *list_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::ListJobsRequest request;
      static const std::map<std::string, v1::JobState> kStates = {{"queued", v1::QUEUED},
                                                                  {"running", v1::RUNNING},
                                                                  {"done", v1::DONE},
                                                                  {"failed", v1::FAILED}};
      if (!state->empty()) request.set_state(kStates.at(*state));
      request.set_limit(*limit);
      v1::ListJobsResponse response;
      grpc::Status status = stub.ListJobs(&context, request, &response);
      if (!status.ok()) return status;
      if (list_options->json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& j : response.jobs()) out.push_back(JobJson(j));
        std::cout << out.dump(2) << "\n";
        return status;
      }
      std::cout << std::left << std::setw(7) << "ID" << std::setw(8) << "SERIES" << std::setw(9)
                << "MODALITY" << std::setw(18) << "RECIPE" << std::setw(9) << "STATE"
                << std::setw(9) << "ATTEMPTS"
                << "LAST ERROR\n";
      for (const auto& j : response.jobs()) {
        std::cout << std::setw(7) << j.id() << std::setw(8) << j.series_id() << std::setw(9)
                  << j.modality() << std::setw(18)
                  << (j.recipe_name().empty() ? j.recipe_sha256().substr(0, 12) : j.recipe_name())
                  << std::setw(9) << StateName(j.state()) << std::setw(9)
                  << (std::to_string(j.attempts()) + "/" + std::to_string(j.max_attempts()))
                  << j.last_error() << "\n";
      }
      return status;
    });
  });

  auto retry_options = std::make_shared<ClientOptions>();
  auto ids = std::make_shared<std::vector<std::int64_t>>();
  auto all_failed = std::make_shared<bool>(false);
  CLI::App* retry = jobs->add_subcommand("retry", "Queue failed jobs again, with fresh attempts");
  auto* ids_option = retry->add_option("id", *ids, "Job ids (from `jobs list`)");
  retry->add_flag("--failed", *all_failed, "Every failed job")->excludes(ids_option);
  AddClientOptions(*retry, *retry_options);
  retry->callback([retry_options, ids, all_failed, &exit_code] {
    if (ids->empty() && !*all_failed) {
      std::cerr << "tributary jobs retry: give job ids or --failed\n";
      exit_code = 2;
      return;
    }
    exit_code = Invoke("jobs retry", *retry_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::RetryJobsRequest request;
      for (std::int64_t id : *ids) request.add_ids(id);
      request.set_all_failed(*all_failed);
      v1::RetryJobsResponse response;
      grpc::Status status = stub.RetryJobs(&context, request, &response);
      if (!status.ok()) return status;
      if (retry_options->json) {
        std::cout << nlohmann::json{{"retried", response.retried()}}.dump(2) << "\n";
      } else {
        std::cout << response.retried() << " job(s) queued again\n";
      }
      return status;
    });
  });

  auto wait_options = std::make_shared<ClientOptions>();
  auto timeout = std::make_shared<int>(0);
  CLI::App* wait = jobs->add_subcommand(
      "wait", "Wait until no job is queued or running; exit 1 if any job failed");
  wait->add_option("--timeout", *timeout, "Give up after this many seconds (0: never); exit 124");
  AddClientOptions(*wait, *wait_options);
  wait->callback([wait_options, timeout, &exit_code] {
    auto stub = v1::Harmonization::NewStub(MakeChannel(*wait_options));
    auto start = std::chrono::steady_clock::now();
    bool terminal = ::isatty(STDERR_FILENO) != 0;
    while (true) {
      grpc::ClientContext context;
      PrepareContext(context, *wait_options, kDeadline);
      v1::GetQueueStatusResponse response;
      grpc::Status status = stub->GetQueueStatus(&context, v1::GetQueueStatusRequest(), &response);
      if (!status.ok()) {
        exit_code = ReportRpcError("jobs wait", status);
        return;
      }
      if (terminal) {
        std::cerr << "\r" << response.queued() << " queued, " << response.running() << " running, "
                  << response.done() << " done, " << response.failed() << " failed   "
                  << std::flush;
      }
      if (response.idle()) {
        if (terminal) std::cerr << "\n";
        if (wait_options->json) {
          std::cout
              << nlohmann::json{{"done", response.done()}, {"failed", response.failed()}}.dump(2)
              << "\n";
        } else {
          std::cout << response.done() << " done, " << response.failed() << " failed\n";
        }
        exit_code = response.failed() > 0 ? 1 : 0;
        return;
      }
      auto waited = std::chrono::steady_clock::now() - start;
      if (*timeout > 0 && waited > std::chrono::seconds(*timeout)) {
        if (terminal) std::cerr << "\n";
        std::cerr << "tributary jobs wait: " << response.queued() << " queued and "
                  << response.running() << " running after " << *timeout << " s\n";
        exit_code = 124;
        return;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
}

void AddSeriesCommands(CLI::App& app, int& exit_code) {
  CLI::App* series = app.add_subcommand("series", RemoteCommandDescription("series"));
  series->require_subcommand(1);

  auto list_options = std::make_shared<ClientOptions>();
  auto study = std::make_shared<std::int64_t>(0);
  auto centre = std::make_shared<std::string>();
  auto modality = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(1000);
  CLI::App* list = series->add_subcommand("list", "List stored series");
  list->add_option("--study", *study, "Only this study (id from `studies list`)");
  list->add_option("--centre", *centre, "Only this centre");
  list->add_option("--modality", *modality, "Only this modality (CT, MR, PT, ...)");
  list->add_option("--limit", *limit, "At most this many series")->capture_default_str();
  AddClientOptions(*list, *list_options);
  list->callback([=, &exit_code] {
    exit_code = Invoke("series list", *list_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::ListSeriesRequest request;
      request.set_study_id(*study);
      request.set_centre(*centre);
      request.set_modality(*modality);
      request.set_limit(*limit);
      v1::ListSeriesResponse response;
      grpc::Status status = stub.ListSeries(&context, request, &response);
      if (!status.ok()) return status;
      if (list_options->json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : response.series()) out.push_back(SeriesJson(s));
        std::cout << out.dump(2) << "\n";
        return status;
      }
      std::cout << std::left << std::setw(7) << "ID" << std::setw(7) << "STUDY" << std::setw(16)
                << "CENTRE" << std::setw(9) << "MODALITY" << std::setw(10) << "INSTANCES"
                << "SERIES UID\n";
      for (const auto& s : response.series()) {
        std::cout << std::setw(7) << s.id() << std::setw(7) << s.study_id() << std::setw(16)
                  << s.centre() << std::setw(9) << s.modality() << std::setw(10)
                  << s.instance_count() << s.series_instance_uid() << "\n";
      }
      return status;
    });
  });

  auto show_options = std::make_shared<ClientOptions>();
  auto id = std::make_shared<std::int64_t>(0);
  auto download = std::make_shared<std::string>();
  CLI::App* show = series->add_subcommand("show", "One series and its derivations");
  show->add_option("id", *id, "Series id (from `series list`)")->required();
  show->add_option("--download", *download,
                   "Fetch every derivation's files into this folder, checking each SHA-256");
  AddClientOptions(*show, *show_options);
  show->callback([=, &exit_code] {
    exit_code = Invoke("series show", *show_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::GetSeriesRequest request;
      request.set_id(*id);
      v1::GetSeriesResponse response;
      grpc::Status status = stub.GetSeries(&context, request, &response);
      if (!status.ok()) return status;
      nlohmann::json downloaded = nlohmann::json::array();
      if (!download->empty()) {
        std::error_code error;
        fs::create_directories(*download, error);
        if (error) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "cannot create " + *download + ": " + error.message());
        }
        bool several = response.derivations_size() > 1;
        for (const auto& d : response.derivations()) {
          fs::path folder = *download;
          if (several) {
            folder /=
                (d.recipe_name().empty() ? d.recipe_sha256().substr(0, 12) : d.recipe_name()) +
                "-" + std::to_string(d.id());
            fs::create_directories(folder, error);
          }
          for (const auto& output : d.outputs()) {
            fs::path path = folder / fs::path(output.name()).filename();
            grpc::Status fetched = Download(stub, *show_options, *id, output, path);
            if (!fetched.ok()) return fetched;
            downloaded.push_back({{"path", path.string()}, {"sha256", output.blob_sha256()}});
          }
        }
      }
      if (show_options->json) {
        nlohmann::json out = SeriesJson(response.series());
        out["derivations"] = nlohmann::json::array();
        for (const auto& d : response.derivations())
          out["derivations"].push_back(DerivationJson(d));
        if (!download->empty()) out["downloaded"] = downloaded;
        std::cout << out.dump(2) << "\n";
        return status;
      }
      const v1::SeriesInfo& s = response.series();
      std::cout << "series " << s.id() << "\n  centre      " << s.centre() << "\n  study       "
                << s.study_id() << " (" << s.study_instance_uid() << ")"
                << "\n  series UID  " << s.series_instance_uid() << "\n  modality    "
                << s.modality() << "\n  instances   " << s.instance_count() << "\n";
      if (response.derivations().empty()) std::cout << "\nno derivations yet\n";
      for (const auto& d : response.derivations()) {
        std::cout << "\nderivation " << d.id() << ": recipe " << d.recipe_name() << " ("
                  << d.recipe_sha256().substr(0, 12) << ")"
                  << (d.model_sha256().empty() ? "" : ", model " + d.model_sha256().substr(0, 12))
                  << ", " << d.input_blob_sha256_size() << " instances, by " << d.worker() << " at "
                  << d.created_at() << "\n";
        for (const auto& o : d.outputs()) {
          std::cout << "  " << std::left << std::setw(8) << o.role() << std::setw(64)
                    << o.blob_sha256() << "  " << o.name() << " (" << o.size() << " bytes)\n";
        }
      }
      for (const auto& file : downloaded)
        std::cout << "downloaded " << file["path"].get<std::string>() << "\n";
      return status;
    });
  });
}

void AddRecipeCommands(CLI::App& app, int& exit_code) {
  CLI::App* recipes =
      app.add_subcommand("recipes", "Harmonization recipes stored in the server (operator token)");
  recipes->require_subcommand(1);

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = recipes->add_subcommand("list", "The server's recipes");
  AddClientOptions(*list, *list_options);
  list->callback([=, &exit_code] {
    exit_code =
        Invoke("recipes list", *list_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::ListRecipesResponse response;
          grpc::Status status = stub.ListRecipes(&context, v1::ListRecipesRequest(), &response);
          if (!status.ok()) return status;
          if (list_options->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& r : response.recipes()) {
              out.push_back({{"name", r.name()},
                             {"version", r.version()},
                             {"sha256", r.sha256()},
                             {"created_at", r.created_at()}});
            }
            std::cout << out.dump(2) << "\n";
            return status;
          }
          for (const auto& r : response.recipes()) {
            std::cout << std::left << std::setw(24) << r.name() << std::setw(6) << r.version()
                      << r.sha256() << "\n";
          }
          return status;
        });
  });

  auto show_options = std::make_shared<ClientOptions>();
  auto name = std::make_shared<std::string>();
  CLI::App* show = recipes->add_subcommand("show", "A stored recipe's canonical document");
  show->add_option("recipe", *name, "Name (its highest version) or SHA-256")->required();
  AddClientOptions(*show, *show_options);
  show->callback([=, &exit_code] {
    exit_code =
        Invoke("recipes show", *show_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::GetRecipeRequest request;
          request.set_name_or_sha256(*name);
          v1::GetRecipeResponse response;
          grpc::Status status = stub.GetRecipe(&context, request, &response);
          if (!status.ok()) return status;
          if (show_options->json) {
            std::cout << nlohmann::json::parse(response.recipe().json()).dump(2) << "\n";
          } else {
            std::cout << nlohmann::json::parse(response.recipe().json()).dump(2)
                      << "\nsha256: " << response.recipe().sha256() << "\n";
          }
          return status;
        });
  });

  auto add_options = std::make_shared<ClientOptions>();
  auto file = std::make_shared<std::string>();
  CLI::App* add = recipes->add_subcommand(
      "add", "Validate a recipe document and store it in the server (by its SHA-256)");
  add->add_option("file", *file, "Recipe document (docs/RECIPES.md)")->required();
  AddClientOptions(*add, *add_options);
  add->callback([=, &exit_code] {
    absl::StatusOr<std::string> json = ReadDocument(*file);
    if (!json.ok()) {
      std::cerr << "tributary recipes add: " << json.status().message() << "\n";
      exit_code = 2;
      return;
    }
    exit_code = Invoke("recipes add", *add_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::AddRecipeRequest request;
      request.set_json(*json);
      v1::AddRecipeResponse response;
      grpc::Status status = stub.AddRecipe(&context, request, &response);
      if (!status.ok()) return status;
      const v1::Recipe& r = response.recipe();
      if (add_options->json) {
        std::cout << nlohmann::json{{"name", r.name()},
                                    {"version", r.version()},
                                    {"sha256", r.sha256()}}
                         .dump(2)
                  << "\n";
      } else {
        std::cout << "recipe " << r.name() << " version " << r.version() << " stored as "
                  << r.sha256() << "\n";
      }
      return status;
    });
  });

  auto assign_options = std::make_shared<ClientOptions>();
  auto centre = std::make_shared<std::string>();
  auto modality = std::make_shared<std::string>();
  auto recipe = std::make_shared<std::string>();
  CLI::App* assign = recipes->add_subcommand(
      "assign", "Apply a stored recipe to a centre's series of a modality (or everyone's default)");
  assign->add_option("--centre", *centre, "Centre (default: the modality's default for all)");
  assign->add_option("--modality", *modality, "DICOM Modality: CT, MR, PT, ...")->required();
  assign->add_option("recipe", *recipe, "Recipe name or SHA-256")->required();
  AddClientOptions(*assign, *assign_options);
  assign->callback([=, &exit_code] {
    exit_code =
        Invoke("recipes assign", *assign_options, [&](Stub& stub, grpc::ClientContext& context) {
          v1::AssignRecipeRequest request;
          request.set_centre(*centre);
          request.set_modality(*modality);
          request.set_recipe(*recipe);
          v1::AssignRecipeResponse response;
          grpc::Status status = stub.AssignRecipe(&context, request, &response);
          if (!status.ok()) return status;
          std::cout << "recipe " << response.recipe().name() << " ("
                    << response.recipe().sha256().substr(0, 12) << ") assigned to "
                    << (centre->empty() ? std::string("every centre (default)") : *centre) << ", "
                    << *modality << "\n";
          return status;
        });
  });
}

void AddModelCommands(CLI::App& app, int& exit_code) {
  CLI::App* models =
      app.add_subcommand("models", "Trained models stored in the server (operator token)");
  models->require_subcommand(1);
  auto add_options = std::make_shared<ClientOptions>();
  auto file = std::make_shared<std::string>();
  CLI::App* add = models->add_subcommand(
      "add", "Validate a Nyul model (`tributary models train`) and store it in the server");
  add->add_option("file", *file, "Model document")->required();
  AddClientOptions(*add, *add_options);
  add->callback([=, &exit_code] {
    absl::StatusOr<std::string> json = ReadDocument(*file);
    if (!json.ok()) {
      std::cerr << "tributary models add: " << json.status().message() << "\n";
      exit_code = 2;
      return;
    }
    exit_code = Invoke("models add", *add_options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::AddModelRequest request;
      request.set_json(*json);
      v1::AddModelResponse response;
      grpc::Status status = stub.AddModel(&context, request, &response);
      if (!status.ok()) return status;
      if (add_options->json) {
        std::cout << nlohmann::json{{"sha256", response.sha256()},
                                    {"method", response.method()},
                                    {"recipe_sha256", response.recipe_sha256()}}
                         .dump(2)
                  << "\n";
      } else {
        std::cout << response.method() << " model stored as " << response.sha256() << " (recipe "
                  << response.recipe_sha256().substr(0, 12) << ")\n";
      }
      return status;
    });
  });
}

void AddReprocessCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ClientOptions>();
  auto recipe = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  auto series = std::make_shared<std::int64_t>(0);
  auto study = std::make_shared<std::int64_t>(0);
  auto centre = std::make_shared<std::string>();
  CLI::App* reprocess = app.add_subcommand("reprocess", RemoteCommandDescription("reprocess"));
  reprocess->add_option("--recipe", *recipe, "Recipe name or SHA-256")->required();
  reprocess->add_option("--model", *model, "Model SHA-256 (default: the recipe's own)");
  auto* series_option = reprocess->add_option("--series", *series, "One series (id)");
  auto* study_option = reprocess->add_option("--study", *study, "Every series of a study (id)");
  auto* centre_option = reprocess->add_option("--centre", *centre, "Every series of a centre");
  series_option->excludes(study_option)->excludes(centre_option);
  study_option->excludes(centre_option);
  AddClientOptions(*reprocess, *options);
  reprocess->callback([=, &exit_code] {
    if (*series == 0 && *study == 0 && centre->empty()) {
      std::cerr << "tributary reprocess: give --series, --study or --centre\n";
      exit_code = 2;
      return;
    }
    exit_code = Invoke("reprocess", *options, [&](Stub& stub, grpc::ClientContext& context) {
      v1::ReprocessRequest request;
      request.set_recipe(*recipe);
      request.set_model_sha256(*model);
      if (*series != 0) request.set_series_id(*series);
      if (*study != 0) request.set_study_id(*study);
      if (!centre->empty()) request.set_centre(*centre);
      v1::ReprocessResponse response;
      grpc::Status status = stub.Reprocess(&context, request, &response);
      if (!status.ok()) return status;
      if (options->json) {
        nlohmann::json ids = nlohmann::json::array();
        for (std::int64_t id : response.job_ids()) ids.push_back(id);
        std::cout << nlohmann::json{{"series", response.series_count()}, {"job_ids", ids}}.dump(2)
                  << "\n";
      } else {
        std::cout << response.job_ids_size() << " job(s) queued for " << response.series_count()
                  << " series (series that have this derivation get none)\n";
      }
      return status;
    });
  });
}

}  // namespace

void AddHarmonizationCommands(CLI::App& app, int& exit_code) {
  AddJobsCommands(app, exit_code);
  AddSeriesCommands(app, exit_code);
  AddRecipeCommands(app, exit_code);
  AddModelCommands(app, exit_code);
  AddReprocessCommand(app, exit_code);
}

}  // namespace tributary::cli
