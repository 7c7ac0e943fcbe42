// services::ParseVolumeQuery and page tokens, as tables: the filters docs/COHORTS.md documents
// (KEY=VALUE, ranges LO..HI, LO.., ..HI or one value) in, the repository query or a refusal that
// names the filter out.
#include "services/cohort_query.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace tributary::services {
namespace {

using Filters = std::vector<std::pair<std::string, std::string>>;

v1::VolumeQuery Query(const Filters& filters, bool exclude_duplicates = false) {
  v1::VolumeQuery q;
  for (const auto& [key, value] : filters) {
    v1::Filter* f = q.add_filters();
    f->set_key(key);
    f->set_value(value);
  }
  q.set_exclude_duplicates(exclude_duplicates);
  return q;
}

std::string Number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

std::string Describe(const provenance::Range& r) {
  return "[" + (r.low ? Number(*r.low) : "-inf") + "," + (r.high ? Number(*r.high) : "inf") + "]";
}

std::string Join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : "|") + v;
  return out;
}

// The parsed query as text, every field that is set: "modality=MR|CT spacing=[-inf,1.2]".
std::string Describe(const provenance::VolumeQuery& q) {
  std::vector<std::string> parts;
  auto list = [&](const char* name, const std::vector<std::string>& values) {
    if (!values.empty()) parts.push_back(std::string(name) + "=" + Join(values));
  };
  auto range = [&](const std::string& name, const provenance::Range& r) {
    if (r.low || r.high) parts.push_back(name + "=" + Describe(r));
  };
  list("modality", q.modalities);
  list("centre", q.centres);
  list("recipe", q.recipes);
  list("body_part", q.body_parts);
  list("sex", q.sexes);
  range("age", q.age_years);
  if (!q.study_date_from.empty() || !q.study_date_to.empty())
    parts.push_back("study_date=[" + q.study_date_from + "," + q.study_date_to + "]");
  range("spacing", q.spacing_mm);
  range("size", q.size_voxels);
  for (const auto& [metric, r] : q.qc) range("qc." + metric, r);
  if (q.exclude_duplicates) parts.push_back("exclude_duplicates");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

struct Accepted {
  Filters filters;
  bool exclude_duplicates;
  const char* parsed;
};

const Accepted kAccepted[] = {
    {{}, false, ""},
    {{}, true, "exclude_duplicates"},
    {{{"modality", "MR"}}, false, "modality=MR"},
    {{{"modality", "MR"}, {"modality", "CT"}}, false, "modality=MR|CT"},
    {{{"centre", "north"}, {"centre", "south-2"}}, false, "centre=north|south-2"},
    {{{"recipe", "mr-1mm"}, {"recipe", std::string(64, 'a')}},
     false,
     "recipe=mr-1mm|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {{{"body_part", "BRAIN"}}, false, "body_part=BRAIN"},
    {{{"sex", "M"}, {"sex", "F"}, {"sex", "O"}}, false, "sex=M|F|O"},
    {{{"age", "40..65"}}, false, "age=[40,65]"},
    {{{"age", "18.."}}, false, "age=[18,inf]"},
    {{{"age", "..90"}}, false, "age=[-inf,90]"},
    {{{"age", "42"}}, false, "age=[42,42]"},
    {{{"age", "0.5..0.5"}}, false, "age=[0.5,0.5]"},
    {{{"study_date", "2020-01-01..2020-12-31"}}, false, "study_date=[2020-01-01,2020-12-31]"},
    {{{"study_date", "2020-01-01.."}}, false, "study_date=[2020-01-01,]"},
    {{{"study_date", "..2019-12-31"}}, false, "study_date=[,2019-12-31]"},
    {{{"study_date", "2021-06-15"}}, false, "study_date=[2021-06-15,2021-06-15]"},
    {{{"spacing", "..1.2"}}, false, "spacing=[-inf,1.2]"},
    {{{"spacing", "0.8..1.25"}}, false, "spacing=[0.8,1.25]"},
    {{{"size", "128..512"}}, false, "size=[128,512]"},
    {{{"qc.ForegroundSD", "0.9..1.1"}}, false, "qc.ForegroundSD=[0.9,1.1]"},
    {{{"qc.ForegroundFraction", "0.1.."}}, false, "qc.ForegroundFraction=[0.1,inf]"},
    {{{"qc.SNR_2", "-3..1e3"}}, false, "qc.SNR_2=[-3,1000]"},
    {{{"qc.A", "1"}, {"qc.B", "..2"}}, false, "qc.A=[1,1] qc.B=[-inf,2]"},
    {{{"modality", "MR"}, {"spacing", "..1.2"}, {"sex", "F"}},
     true,
     "modality=MR sex=F spacing=[-inf,1.2] exclude_duplicates"},
};

TEST(ParseVolumeQuery, AcceptsTheDocumentedFilters) {
  for (const Accepted& c : kAccepted) {
    auto parsed = ParseVolumeQuery(Query(c.filters, c.exclude_duplicates));
    ASSERT_TRUE(parsed.ok()) << c.parsed << ": " << parsed.status();
    EXPECT_EQ(Describe(*parsed), c.parsed);
  }
}

// Refused: InvalidArgument whose message names the filter as given (KEY=VALUE).
const Filters kRefused[] = {
    {{"modalities", "MR"}},
    {{"Modality", "MR"}},
    {{"", "MR"}},
    {{"modality", ""}},
    {{"modality", std::string(257, 'M')}},
    {{"sex", "m"}},
    {{"sex", "male"}},
    {{"sex", "U"}},
    {{"age", ""}},
    {{"age", ".."}},
    {{"age", "forty"}},
    {{"age", "40..sixty"}},
    {{"age", "40y"}},
    {{"age", "65..40"}},
    {{"age", "nan"}},
    {{"age", "inf"}},
    {{"age", "1e999"}},
    {{"age", "1..2..3"}},
    {{"age", "40"}, {"age", "50"}},
    {{"spacing", "..1.2"}, {"spacing", "0.5.."}},
    {{"spacing", "1,2"}},
    {{"size", "big"}},
    {{"size", "512..128"}},
    {{"study_date", "2020-13-01"}},
    {{"study_date", "2020-02-32"}},
    {{"study_date", "20200101"}},
    {{"study_date", "2020-1-1"}},
    {{"study_date", ".."}},
    {{"study_date", "2021-01-01..2020-01-01"}},
    {{"study_date", "2020-01-01..2020"}},
    {{"study_date", "2020-01-01"}, {"study_date", "2021-01-01"}},
    {{"qc.", "1"}},
    {{"qc.Foreground-SD", "1"}},
    {{"qc.Foreground SD", "1"}},
    {{"qc.ForegroundSD", "high"}},
    {{"qc.ForegroundSD", "2..1"}},
    {{"qc.ForegroundSD", "1"}, {"qc.ForegroundSD", "2"}},
};

TEST(ParseVolumeQuery, RefusesNamingTheFilter) {
  for (const Filters& filters : kRefused) {
    auto parsed = ParseVolumeQuery(Query(filters));
    const auto& [key, value] = filters.back();
    std::string named = key + "=" + value;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << named << ": " << (parsed.ok() ? Describe(*parsed) : "");
    EXPECT_NE(std::string(parsed.status().message()).find(named), std::string::npos)
        << named << ": " << parsed.status();
  }
}

TEST(PageToken, RoundTrips) {
  const provenance::VolumeCursor kCursors[] = {
      {0, ""},
      {1, "volume"},
      {42, "volume_2"},
      {9223372036854775807, "x"},
      {7, "a/b/../c"},
      {8, "spaces and \xc3\xa9 and \t"},
      {9, std::string("nul\0inside", 10)},
  };
  for (const provenance::VolumeCursor& c : kCursors) {
    std::string token = PageToken(c);
    auto back = ParsePageToken(token);
    ASSERT_TRUE(back.ok()) << token << ": " << back.status();
    EXPECT_EQ(back->derivation_id, c.derivation_id) << token;
    EXPECT_EQ(back->stem, c.stem) << token;
  }
}

// What a client could send that no server made: refused, never a cursor.
std::string Hex(const std::string& text) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

TEST(PageToken, RefusesGarbage) {
  const std::string kGarbage[] = {
      "",
      "v1.",
      "v1",
      "v2." + Hex("1/volume"),
      "V1." + Hex("1/volume"),
      Hex("1/volume"),
      "v1." + Hex("1/volume") + "0",
      "v1.zz",
      "v1." + Hex("1/volume").substr(0, 3),
      "v1.3g" + Hex("1/volume").substr(2),
      "v1.312F766f6c756d65",  // upper-case hex digit
      "v1." + Hex("volume"),  // no derivation
      "v1." + Hex("/volume"),
      "v1." + Hex("x/volume"),
      "v1." + Hex("12x/volume"),
      "v1." + Hex("-3/volume"),
      "v1." + Hex(" 7/volume"),
      "v1." + Hex("+7/volume"),
      "v1." + Hex("99999999999999999999/volume"),
  };
  for (const std::string& token : kGarbage) {
    auto cursor = ParsePageToken(token);
    EXPECT_EQ(cursor.status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << token << "' read as "
        << (cursor.ok() ? std::to_string(cursor->derivation_id) : "");
  }
}

}  // namespace
}  // namespace tributary::services
