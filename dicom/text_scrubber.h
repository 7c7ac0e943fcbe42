#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tributary::dicom {

// Cleans free text (the "C" action on descriptors): every occurrence, ignoring case, of an
// identifying value collected from the same instance is overwritten with 'X'. Values are split into
// words (person-name components, tokens) so "DOE^JOHN" also cleans "John Doe".
class TextScrubber {
 public:
  static constexpr std::size_t kMinimumTokenLength = 3;

  void AddIdentifyingValue(std::string_view value);
  std::string Clean(std::string_view text) const;
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<std::string> tokens_;  // lower case
};

}  // namespace tributary::dicom
