#pragma once

#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace tributary::dicom {

// The top-level elements of a data set, sorted by tag: ReadHeader looks up ~60 attributes, and
// DCMTK's findAndGet* walks the element list from the start for each. Internal to dicom/.
class ElementIndex {
 public:
  explicit ElementIndex(DcmItem& item) {
    for (DcmObject* o = item.nextInContainer(nullptr); o != nullptr; o = item.nextInContainer(o)) {
      elements_.emplace_back(o->getTag(), static_cast<DcmElement*>(o));
    }
    auto by_tag = [](const Entry& a, const Entry& b) { return a.first < b.first; };
    if (!std::is_sorted(elements_.begin(), elements_.end(), by_tag))
      std::stable_sort(elements_.begin(), elements_.end(), by_tag);
  }
  DcmElement* Find(const DcmTagKey& tag) const {
    auto it = std::lower_bound(elements_.begin(), elements_.end(), tag,
                               [](const Entry& e, const DcmTagKey& key) { return e.first < key; });
    return it != elements_.end() && it->first == tag ? it->second : nullptr;
  }

 private:
  using Entry = std::pair<DcmTagKey, DcmElement*>;
  std::vector<Entry> elements_;
};

}  // namespace tributary::dicom
