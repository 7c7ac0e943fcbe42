#include "cli/admin_commands.h"

#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "cli/remote_commands.h"
#include "tributary/v1/admin.grpc.pb.h"

namespace tributary::cli {
namespace {

constexpr std::chrono::seconds kDeadline{30};

std::string Size(std::int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  if (bytes >= (1LL << 30)) {
    out << bytes / double(1LL << 30) << " GiB";
  } else if (bytes >= (1LL << 20)) {
    out << bytes / double(1LL << 20) << " MiB";
  } else {
    out << bytes / 1024.0 << " KiB";
  }
  return out.str();
}

nlohmann::json StudyJson(const v1::Study& s) {
  return {{"id", s.id()},
          {"centre", s.centre()},
          {"patient", s.patient_pseudonym()},
          {"study_instance_uid", s.study_instance_uid()},
          {"series", s.series_count()},
          {"instances", s.instance_count()},
          {"bytes", s.bytes()},
          {"first_received_at", s.first_received_at()},
          {"completed_at", s.completed_at()},
          {"expected_instances", s.expected_instance_count()}};
}

void PrintDuplicates(const v1::ListCrossCentreDuplicatesResponse& response, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : response.duplicates()) {
      nlohmann::json entry = StudyJson(d.study());
      entry["also_sent_as"] = nlohmann::json::array();
      for (const auto& other : d.also_sent_as()) {
        entry["also_sent_as"].push_back({{"id", other.study_id()},
                                         {"centre", other.centre()},
                                         {"study_instance_uid", other.study_instance_uid()},
                                         {"shared_instances", other.shared_instance_count()}});
      }
      out.push_back(std::move(entry));
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << std::left << std::setw(6) << "ID" << std::setw(16) << "CENTRE" << std::setw(10)
            << "INSTANCES"
            << "ALSO SENT AS (study id, centre, shared instances)\n";
  for (const auto& d : response.duplicates()) {
    std::cout << std::setw(6) << d.study().id() << std::setw(16) << d.study().centre()
              << std::setw(10) << d.study().instance_count();
    const char* separator = "";
    for (const auto& other : d.also_sent_as()) {
      std::cout << separator << other.study_id() << " " << other.centre() << " "
                << other.shared_instance_count();
      separator = "; ";
    }
    std::cout << "\n";
  }
}

template <typename Call>
int Invoke(const std::string& name, const ClientOptions& options, Call call) {
  auto stub = v1::Admin::NewStub(MakeChannel(options));
  grpc::ClientContext context;
  PrepareContext(context, options, kDeadline);
  grpc::Status status = call(*stub, context);
  return status.ok() ? 0 : ReportRpcError(name, status);
}

}  // namespace

void AddAdminCommands(CLI::App& app, int& exit_code) {
  CLI::App* centres = app.add_subcommand("centres", RemoteCommandDescription("centres"));
  centres->require_subcommand(1);

  auto add_options = std::make_shared<ClientOptions>();
  auto name = std::make_shared<std::string>();
  CLI::App* add = centres->add_subcommand(
      "add", "Add a centre; prints its new upload token alone on the last line (shown once)");
  add->add_option("name", *name, "Centre name: 1-64 of A-Z a-z 0-9 . _ -")->required();
  AddClientOptions(*add, *add_options);
  add->callback([add_options, name, &exit_code] {
    exit_code = Invoke(
        "centres add", *add_options, [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
          v1::AddCentreRequest request;
          request.set_name(*name);
          v1::AddCentreResponse response;
          grpc::Status status = stub.AddCentre(&context, request, &response);
          if (!status.ok()) return status;
          if (add_options->json) {
            std::cout << nlohmann::json{{"id", response.centre().id()},
                                        {"name", response.centre().name()},
                                        {"upload_token", response.upload_token()}}
                             .dump(2)
                      << "\n";
          } else {
            std::cout << "centre " << response.centre().name() << " added (id "
                      << response.centre().id() << "). Its upload token, shown this once:\n"
                      << response.upload_token() << "\n";
          }
          return status;
        });
  });

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list =
      centres->add_subcommand("list", "List centres with their study and instance counts");
  AddClientOptions(*list, *list_options);
  list->callback([list_options, &exit_code] {
    exit_code = Invoke(
        "centres list", *list_options, [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
          v1::ListCentresResponse response;
          grpc::Status status = stub.ListCentres(&context, v1::ListCentresRequest(), &response);
          if (!status.ok()) return status;
          if (list_options->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& c : response.centres()) {
              out.push_back(
                  {{"id", c.id()},
                   {"name", c.name()},
                   {"created_at", c.created_at()},
                   {"studies", c.study_count()},
                   {"instances", c.instance_count()},
                   {"accept_burned_in_annotation", c.policy().accept_burned_in_annotation()},
                   {"policy_changed_at", c.policy_changed_at()}});
            }
            std::cout << out.dump(2) << "\n";
            return status;
          }
          std::cout << std::left << std::setw(6) << "ID" << std::setw(24) << "CENTRE"
                    << std::setw(22) << "CREATED" << std::setw(9) << "STUDIES" << std::setw(11)
                    << "INSTANCES"
                    << "BURNED-IN ANNOTATION\n";
          for (const auto& c : response.centres()) {
            std::cout << std::setw(6) << c.id() << std::setw(24) << c.name() << std::setw(22)
                      << c.created_at() << std::setw(9) << c.study_count() << std::setw(11)
                      << c.instance_count()
                      << (c.policy().accept_burned_in_annotation() ? "accepted" : "refused")
                      << "\n";
          }
          return status;
        });
  });

  auto policy_options = std::make_shared<ClientOptions>();
  auto policy_centre = std::make_shared<std::string>();
  auto accept_burned_in = std::make_shared<std::string>();
  CLI::App* policy = centres->add_subcommand(
      "policy",
      "Set what one centre's uploads are trusted with (operator); applies to upload streams "
      "that start afterwards");
  policy->add_option("name", *policy_centre, "Centre name")->required();
  policy
      ->add_option("--accept-burned-in-annotation", *accept_burned_in,
                   "on: accept instances marked BurnedInAnnotation=YES from this centre (only once "
                   "the centre cleans identifying text from their pixels); off (the default for "
                   "every centre): refuse them as BURNED_IN_ANNOTATION")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  AddClientOptions(*policy, *policy_options);
  policy->callback([policy_options, policy_centre, accept_burned_in, &exit_code] {
    exit_code = Invoke(
        "centres policy", *policy_options,
        [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
          v1::SetCentrePolicyRequest request;
          request.set_centre(*policy_centre);
          request.mutable_policy()->set_accept_burned_in_annotation(*accept_burned_in == "on");
          v1::SetCentrePolicyResponse response;
          grpc::Status status = stub.SetCentrePolicy(&context, request, &response);
          if (!status.ok()) return status;
          const bool accepted = response.centre().policy().accept_burned_in_annotation();
          if (policy_options->json) {
            std::cout << nlohmann::json{{"id", response.centre().id()},
                                        {"name", response.centre().name()},
                                        {"accept_burned_in_annotation", accepted},
                                        {"policy_changed_at",
                                         response.centre().policy_changed_at()}}
                             .dump(2)
                      << "\n";
          } else {
            std::cout << "centre " << response.centre().name() << ": instances marked "
                      << "BurnedInAnnotation=YES are now " << (accepted ? "accepted" : "refused")
                      << " (upload streams started from now on)\n";
          }
          return status;
        });
  });

  CLI::App* studies = app.add_subcommand("studies", RemoteCommandDescription("studies"));
  studies->require_subcommand(1);
  auto studies_options = std::make_shared<ClientOptions>();
  auto centre = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(100);
  CLI::App* studies_list = studies->add_subcommand("list", "List studies, newest first");
  AddClientOptions(*studies_list, *studies_options);
  studies_list->add_option("--centre", *centre, "Only this centre (operator)");
  studies_list->add_option("--limit", *limit, "At most this many studies")->capture_default_str();
  studies_list->callback([studies_options, centre, limit, &exit_code] {
    exit_code = Invoke(
        "studies list", *studies_options, [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
          v1::ListStudiesRequest request;
          request.set_centre(*centre);
          request.set_limit(*limit);
          v1::ListStudiesResponse response;
          grpc::Status status = stub.ListStudies(&context, request, &response);
          if (!status.ok()) return status;
          if (studies_options->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& s : response.studies()) out.push_back(StudyJson(s));
            std::cout << out.dump(2) << "\n";
            return status;
          }
          std::cout << std::left << std::setw(6) << "ID" << std::setw(16) << "CENTRE"
                    << std::setw(25) << "PATIENT" << std::setw(7) << "SERIES" << std::setw(10)
                    << "INSTANCES" << std::setw(11) << "SIZE" << std::setw(22) << "RECEIVED"
                    << "COMPLETE\n";
          for (const auto& s : response.studies()) {
            std::cout << std::setw(6) << s.id() << std::setw(16) << s.centre() << std::setw(25)
                      << s.patient_pseudonym() << std::setw(7) << s.series_count() << std::setw(10)
                      << s.instance_count() << std::setw(11) << Size(s.bytes()) << std::setw(22)
                      << s.first_received_at()
                      << (s.completed_at().empty() ? "no" : s.completed_at()) << "\n";
          }
          return status;
        });
  });

  auto show_options = std::make_shared<ClientOptions>();
  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* show = studies->add_subcommand("show", "One study and its series");
  show->add_option("id", *id, "Study id (from `studies list`)")->required();
  AddClientOptions(*show, *show_options);
  show->callback([show_options, id, &exit_code] {
    exit_code = Invoke(
        "studies show", *show_options, [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
          v1::GetStudyRequest request;
          request.set_id(*id);
          v1::GetStudyResponse response;
          grpc::Status status = stub.GetStudy(&context, request, &response);
          if (!status.ok()) return status;
          if (show_options->json) {
            nlohmann::json out = StudyJson(response.study());
            out["series_list"] = nlohmann::json::array();
            for (const auto& s : response.series()) {
              out["series_list"].push_back({{"series_instance_uid", s.series_instance_uid()},
                                            {"modality", s.modality()},
                                            {"instances", s.instance_count()},
                                            {"bytes", s.bytes()}});
            }
            std::cout << out.dump(2) << "\n";
            return status;
          }
          const v1::Study& s = response.study();
          std::cout << "study " << s.id() << "\n  centre             " << s.centre()
                    << "\n  patient pseudonym  " << s.patient_pseudonym()
                    << "\n  study UID          " << s.study_instance_uid()
                    << "\n  instances          " << s.instance_count() << " (" << Size(s.bytes())
                    << ")"
                    << "\n  first received     " << s.first_received_at()
                    << "\n  completed          "
                    << (s.completed_at().empty() ? "no" : s.completed_at());
          if (s.expected_instance_count() > 0)
            std::cout << " (expected " << s.expected_instance_count() << ")";
          std::cout << "\n\n"
                    << std::left << std::setw(66) << "SERIES UID" << std::setw(9) << "MODALITY"
                    << std::setw(10) << "INSTANCES"
                    << "SIZE\n";
          for (const auto& series : response.series()) {
            std::cout << std::setw(66) << series.series_instance_uid() << std::setw(9)
                      << series.modality() << std::setw(10) << series.instance_count()
                      << Size(series.bytes()) << "\n";
          }
          return status;
        });
  });

  auto duplicates_options = std::make_shared<ClientOptions>();
  auto duplicates_limit = std::make_shared<int>(1000);
  CLI::App* duplicates = studies->add_subcommand(
      "duplicates", "Studies that more than one centre sent, with the other centres' copies");
  AddClientOptions(*duplicates, *duplicates_options);
  duplicates->add_option("--limit", *duplicates_limit, "At most this many studies")
      ->capture_default_str();
  duplicates->callback([duplicates_options, duplicates_limit, &exit_code] {
    exit_code = Invoke("studies duplicates", *duplicates_options,
                       [&](v1::Admin::Stub& stub, grpc::ClientContext& context) {
                         v1::ListCrossCentreDuplicatesRequest request;
                         request.set_limit(*duplicates_limit);
                         v1::ListCrossCentreDuplicatesResponse response;
                         grpc::Status status =
                             stub.ListCrossCentreDuplicates(&context, request, &response);
                         if (!status.ok()) return status;
                         PrintDuplicates(response, duplicates_options->json);
                         return status;
                       });
  });
}

}  // namespace tributary::cli
