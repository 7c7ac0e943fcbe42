#include "dicom/date_shift.h"

#include <chrono>

namespace tributary::dicom {
namespace {

bool AllDigits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int Number(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

std::optional<std::string> ShiftYmd(std::string_view ymd, int days) {
  if (ymd.size() != 8 || !AllDigits(ymd)) return std::nullopt;
  using namespace std::chrono;
  year_month_day date{year{Number(ymd.substr(0, 4))},
                      month{static_cast<unsigned>(Number(ymd.substr(4, 2)))},
                      day{static_cast<unsigned>(Number(ymd.substr(6, 2)))}};
  if (!date.ok()) return std::nullopt;
  year_month_day shifted{sys_days{date} + std::chrono::days{days}};
  int y = static_cast<int>(shifted.year());
  if (y < 1 || y > 9999) return std::nullopt;
  unsigned m = static_cast<unsigned>(shifted.month());
  unsigned d = static_cast<unsigned>(shifted.day());
  std::string out(8, '0');
  for (int i = 3; i >= 0; --i, y /= 10) out[i] = static_cast<char>('0' + y % 10);
  out[4] = static_cast<char>('0' + m / 10);
  out[5] = static_cast<char>('0' + m % 10);
  out[6] = static_cast<char>('0' + d / 10);
  out[7] = static_cast<char>('0' + d % 10);
  return out;
}

template <typename ShiftOne>
std::optional<std::string> ForEachValue(std::string_view value, ShiftOne shift_one) {
  std::string out;
  while (true) {
    std::size_t end = value.find('\\');
    std::string_view one = value.substr(0, end);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\0')) one.remove_suffix(1);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    auto shifted = shift_one(one);
    if (!shifted) return std::nullopt;
    out += *shifted;
    if (end == std::string_view::npos) break;
    out.push_back('\\');
    value.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> ShiftDate(std::string_view value, int days) {
  return ForEachValue(value, [days](std::string_view one) -> std::optional<std::string> {
    if (one.empty()) return std::string();
    std::size_t dash = one.find('-');
    if (dash == std::string_view::npos) {
      // Pre-1993 form YYYY.MM.DD is accepted and written in the current form.
      if (one.size() == 10 && one[4] == '.' && one[7] == '.') {
        std::string compact = std::string(one.substr(0, 4)) + std::string(one.substr(5, 2)) +
                              std::string(one.substr(8, 2));
        return ShiftYmd(compact, days);
      }
      return ShiftYmd(one, days);
    }
    std::string out;
    if (dash > 0) {
      auto from = ShiftYmd(one.substr(0, dash), days);
      if (!from) return std::nullopt;
      out += *from;
    }
    out.push_back('-');
    if (dash + 1 < one.size()) {
      auto to = ShiftYmd(one.substr(dash + 1), days);
      if (!to) return std::nullopt;
      out += *to;
    }
    return out;
  });
}

std::optional<std::string> ShiftDateTime(std::string_view value, int days) {
  return ForEachValue(value, [days](std::string_view one) -> std::optional<std::string> {
    if (one.empty()) return std::string();
    if (one.size() < 8) return std::nullopt;  // year or year-month only: cannot shift by days
    auto date = ShiftYmd(one.substr(0, 8), days);
    if (!date) return std::nullopt;
    return *date + std::string(one.substr(8));
  });
}

}  // namespace tributary::dicom
