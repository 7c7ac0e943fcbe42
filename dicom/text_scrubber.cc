#include "dicom/text_scrubber.h"

#include <algorithm>
#include <cctype>

namespace tributary::dicom {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool IsSeparator(char c) {
  return c == '^' || c == '=' || c == '\\' || c == ' ' || c == ',' || c == ';' || c == '/' ||
         c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

}  // namespace

void TextScrubber::AddIdentifyingValue(std::string_view value) {
  auto add = [this](std::string_view token) {
    while (!token.empty() && (token.back() == ' ' || token.back() == '.')) token.remove_suffix(1);
    if (token.size() < kMinimumTokenLength) return;
    std::string lower(token);
    std::transform(lower.begin(), lower.end(), lower.begin(), Lower);
    if (std::find(tokens_.begin(), tokens_.end(), lower) == tokens_.end()) tokens_.push_back(lower);
  };
  add(value);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || IsSeparator(value[i])) {
      if (i > start) add(value.substr(start, i - start));
      start = i + 1;
    }
  }
}

std::string TextScrubber::Clean(std::string_view text) const {
  std::string out(text);
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), Lower);
  for (const std::string& token : tokens_) {
    for (std::size_t pos = lower.find(token); pos != std::string::npos;
         pos = lower.find(token, pos + token.size())) {
      std::fill(out.begin() + pos, out.begin() + pos + token.size(), 'X');
    }
  }
  return out;
}

}  // namespace tributary::dicom
