#include "normalize/distribution_plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

namespace tributary::normalize {
namespace {

constexpr int kPanelWidth = 520, kPanelHeight = 360, kMargin = 48, kTitleHeight = 36;
constexpr int kLegendRow = 18;

// Colour-blind-safe (Okabe-Ito).
constexpr std::array<std::array<double, 3>, 8> kColours = {{{0.00, 0.45, 0.70},
                                                            {0.90, 0.62, 0.00},
                                                            {0.00, 0.62, 0.45},
                                                            {0.80, 0.47, 0.65},
                                                            {0.34, 0.71, 0.91},
                                                            {0.84, 0.37, 0.00},
                                                            {0.94, 0.89, 0.26},
                                                            {0.00, 0.00, 0.00}}};

std::string Short(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

void Text(cairo_t* cr, double x, double y, const std::string& text, double size) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, text.c_str());
}

void DrawPanel(cairo_t* cr, const DistributionPanel& panel, double left, double top,
               std::size_t legend_rows) {
  const double plot_left = left + kMargin, plot_top = top + kTitleHeight;
  const double plot_width = kPanelWidth - 2 * kMargin;
  const double plot_height = kPanelHeight - kTitleHeight - kMargin;
  cairo_set_source_rgb(cr, 0, 0, 0);
  Text(cr, plot_left, top + 22, panel.title, 15);

  double low = 0, high = 1, peak = 0;
  bool first = true;
  for (const auto& c : panel.curves) {
    if (c.fractions.empty() || !(c.high > c.low)) continue;
    low = first ? c.low : std::min(low, c.low);
    high = first ? c.high : std::max(high, c.high);
    first = false;
    // Density (fraction per unit of value) so that curves of different ranges compare.
    double width = (c.high - c.low) / static_cast<double>(c.fractions.size());
    for (double f : c.fractions) peak = std::max(peak, f / width);
  }
  if (!(high > low)) high = low + 1;
  if (peak <= 0) peak = 1;

  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, plot_left, plot_top, plot_width, plot_height);
  cairo_stroke(cr);
  Text(cr, plot_left, plot_top + plot_height + 16, Short(low), 11);
  Text(cr, plot_left + plot_width - 40, plot_top + plot_height + 16, Short(high), 11);
  Text(cr, plot_left + plot_width / 2 - 30, plot_top + plot_height + 32, "intensity", 11);

  for (std::size_t i = 0; i < panel.curves.size(); ++i) {
    const DistributionCurve& c = panel.curves[i];
    const auto& colour = kColours[i % kColours.size()];
    cairo_set_source_rgb(cr, colour[0], colour[1], colour[2]);
    cairo_set_line_width(cr, 2);
    if (!c.fractions.empty() && c.high > c.low) {
      double width = (c.high - c.low) / static_cast<double>(c.fractions.size());
      for (std::size_t b = 0; b < c.fractions.size(); ++b) {
        double value = c.low + (static_cast<double>(b) + 0.5) * width;
        double x = plot_left + (value - low) / (high - low) * plot_width;
        double y = plot_top + plot_height - c.fractions[b] / width / peak * plot_height;
        if (b == 0) {
          cairo_move_to(cr, x, y);
        } else {
          cairo_line_to(cr, x, y);
        }
      }
      cairo_stroke(cr);
    }
    double legend_y = top + kPanelHeight + kLegendRow * static_cast<double>(i + 1);
    if (i < legend_rows) {
      cairo_rectangle(cr, plot_left, legend_y - 10, 14, 10);
      cairo_fill(cr);
      cairo_set_source_rgb(cr, 0, 0, 0);
      Text(cr, plot_left + 20, legend_y, c.label, 12);
    }
  }
}

cairo_status_t AppendPng(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

absl::StatusOr<std::string> DistributionPlotPng(const std::string& title,
                                                const std::vector<DistributionPanel>& panels) {
  if (panels.empty()) return absl::InvalidArgumentError("no distribution to plot");
  std::size_t rows = 0;
  for (const auto& p : panels) rows = std::max(rows, p.curves.size());
  const int width = kPanelWidth * static_cast<int>(panels.size());
  const int height = kTitleHeight + kPanelHeight + kLegendRow * static_cast<int>(rows + 1);
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  cairo_set_source_rgb(cr.get(), 0, 0, 0);
  Text(cr.get(), kMargin, 26, title, 17);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    DrawPanel(cr.get(), panels[i], kPanelWidth * static_cast<double>(i), kTitleHeight, rows);
  }
  if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS)
    return absl::InternalError(std::string("cannot draw the distributions: ") +
                               cairo_status_to_string(cairo_status(cr.get())));
  cairo_surface_flush(surface.get());
  std::string png;
  cairo_status_t written = cairo_surface_write_to_png_stream(surface.get(), AppendPng, &png);
  if (written != CAIRO_STATUS_SUCCESS)
    return absl::InternalError(std::string("cannot encode the distributions as PNG: ") +
                               cairo_status_to_string(written));
  return png;
}

}  // namespace tributary::normalize
