#include "load_report.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace dualrpc::bench {
namespace {

double Millis(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

// A latency for people: µs below a millisecond, s from a second.
std::string Ms(int64_t nanos) {
  if (nanos < 1000000) return absl::StrFormat("%.2f µs", nanos / 1e3);
  if (nanos < 1000000000) return absl::StrFormat("%.2f ms", Millis(nanos));
  return absl::StrFormat("%.2f s", nanos / 1e9);
}

std::string PercentileLabel(double p) { return absl::StrFormat("%g", p); }

void WriteSummary(const LoadResult& r, std::ostream& out) {
  out << "\nSummary:\n";
  out << absl::StrFormat("  Target:\t%s\n  Call:\t\t%s\n", r.target, r.method);
  out << absl::StrFormat("  Load:\t\t%s, %d callers, %d connections\n",
                         r.schedule, r.concurrency, r.connections);
  out << absl::StrFormat("  Count:\t%d\n", r.count());
  out << absl::StrFormat("  Total:\t%s\n", Ms(r.total_nanos));
  out << absl::StrFormat("  Slowest:\t%s\n", Ms(r.latency.max()));
  out << absl::StrFormat("  Fastest:\t%s\n", Ms(r.latency.min()));
  out << absl::StrFormat("  Average:\t%s\n",
                         Ms(static_cast<int64_t>(r.latency.mean())));
  out << absl::StrFormat("  Requests/sec:\t%.2f\n", r.requests_per_second());

  out << "\nResponse time histogram:\n";
  const std::vector<LinearBucket> buckets = LinearHistogram(r.latency);
  int64_t most = 1;
  for (const LinearBucket& b : buckets) most = std::max(most, b.count);
  constexpr int kBarWidth = 40;
  for (const LinearBucket& b : buckets) {
    const int bar = static_cast<int>(kBarWidth * b.count / most);
    out << absl::StrFormat("  %10.3f ms [%d]\t|%s\n", Millis(b.mark_nanos),
                           b.count, std::string(bar, '#'));
  }

  out << "\nLatency distribution:\n";
  for (double p : kLoadPercentiles) {
    out << absl::StrFormat("  %s %% in %s\n", PercentileLabel(p),
                           Ms(r.latency.ValueAtPercentile(p)));
  }

  out << "\nStatus code distribution:\n";
  for (const auto& [code, count] : r.status_codes) {
    out << absl::StrFormat("  [%s]\t%d responses\n", code, count);
  }
  if (!r.errors.empty()) {
    out << "\nError distribution:\n";
    for (const auto& [error, count] : r.errors) {
      out << absl::StrFormat("  [%d]\t%s\n", count, error);
    }
  }
}

nlohmann::json ToJson(const LoadResult& r) {
  nlohmann::json j;
  j["date"] = r.date;
  j["options"] = {{"target", r.target},
                  {"call", r.method},
                  {"concurrency", r.concurrency},
                  {"connections", r.connections},
                  {"schedule", r.schedule}};
  j["count"] = r.count();
  j["total"] = r.total_nanos;
  j["average"] = static_cast<int64_t>(r.latency.mean());
  j["fastest"] = r.latency.min();
  j["slowest"] = r.latency.max();
  j["rps"] = r.requests_per_second();
  nlohmann::json percentiles = nlohmann::json::array();
  for (double p : kLoadPercentiles) {
    percentiles.push_back(
        {{"percentage", p}, {"latency", r.latency.ValueAtPercentile(p)}});
  }
  j["latencyDistribution"] = std::move(percentiles);
  nlohmann::json histogram = nlohmann::json::array();
  const double count = std::max<double>(1, static_cast<double>(r.count()));
  for (const LinearBucket& b : LinearHistogram(r.latency)) {
    histogram.push_back({{"mark", Millis(b.mark_nanos) / 1e3},
                         {"count", b.count},
                         {"frequency", static_cast<double>(b.count) / count}});
  }
  j["histogram"] = std::move(histogram);
  j["statusCodeDistribution"] = r.status_codes;
  j["errorDistribution"] = r.errors;
  nlohmann::json bins = nlohmann::json::array();
  for (const LoadTimeBin& bin : r.bins) {
    bins.push_back({{"calls", bin.calls},
                    {"errors", bin.errors},
                    {"latencySum", bin.latency_sum_nanos},
                    {"latencyMax", bin.latency_max_nanos}});
  }
  j["timeline"] = {{"binNanos", r.bin_nanos}, {"bins", std::move(bins)}};
  return j;
}

// RFC 4180: a field with a comma, quote or line break is quoted, quotes
// doubled.
std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

void WriteCsv(const LoadResult& r, std::ostream& out) {
  out << "start_ms,latency_ms,status,error\n";
  for (const LoadCallRecord& call : r.calls) {
    out << absl::StrFormat("%.6f,%.6f,%s,%s\n", Millis(call.start_nanos),
                           Millis(call.latency_nanos),
                           absl::StatusCodeToString(call.code),
                           CsvField(call.message));
  }
}

std::string HtmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"},
                                    {"<", "&lt;"},
                                    {">", "&gt;"},
                                    {"\"", "&quot;"},
                                    {"'", "&#39;"}});
}

// Chart geometry, in SVG user units.
constexpr int kChartWidth = 560;
constexpr int kChartHeight = 250;
constexpr int kMargin = 50;

// The largest of `values`, never zero (charts divide by it).
double ChartTop(const std::vector<double>& values) {
  double top = 1e-12;
  for (double v : values) top = std::max(top, v);
  return top;
}

// What both charts start with: the <svg> element, the x axis, and the
// y label with the largest value `top`. The caller appends and closes it.
std::string SvgFrame(absl::string_view id, absl::string_view y_label,
                     double top) {
  std::string svg = absl::StrFormat(
      "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
      "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
      id, kChartWidth, kChartHeight, kChartWidth, kChartHeight);
  absl::StrAppendFormat(
      &svg,
      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n"
      "<text x=\"5\" y=\"%d\" font-size=\"12\">%s (max %.4g)</text>\n",
      kMargin, kChartHeight - kMargin, kChartWidth - kMargin,
      kChartHeight - kMargin, kMargin - 20, HtmlEscape(y_label), top);
  return svg;
}

// An SVG bar chart: one <rect class="bar"> per value, labels under the bars.
std::string SvgBars(absl::string_view id, const std::vector<double>& values,
                    const std::vector<std::string>& labels,
                    absl::string_view y_label) {
  const double top = ChartTop(values);
  const double plot_w = kChartWidth - 2 * kMargin;
  const double plot_h = kChartHeight - 2 * kMargin;
  const double slot = plot_w / std::max<std::size_t>(1, values.size());
  std::string svg = SvgFrame(id, y_label, top);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double h = plot_h * values[i] / top;
    const double x = kMargin + slot * static_cast<double>(i);
    absl::StrAppendFormat(
        &svg,
        "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
        "height=\"%.1f\" fill=\"#3b7dd8\"><title>%s: %.6g</title></rect>\n",
        x + 2, kChartHeight - kMargin - h, std::max(1.0, slot - 4), h,
        HtmlEscape(labels[i]), values[i]);
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          x + slot / 2, kChartHeight - kMargin + 15,
                          HtmlEscape(labels[i]));
  }
  svg += "</svg>\n";
  return svg;
}

// An SVG line chart of `values` at equal steps: one <polyline class="series">
// and a <circle> per point.
std::string SvgLine(absl::string_view id, const std::vector<double>& values,
                    double step_seconds, absl::string_view y_label,
                    absl::string_view colour) {
  const double top = ChartTop(values);
  const double plot_w = kChartWidth - 2 * kMargin;
  const double plot_h = kChartHeight - 2 * kMargin;
  const double dx =
      values.size() > 1 ? plot_w / static_cast<double>(values.size() - 1) : 0;
  std::string svg = SvgFrame(id, y_label, top);
  absl::StrAppendFormat(
      &svg,
      "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.1f "
      "s</text>\n",
      kChartWidth - kMargin, kChartHeight - kMargin + 15,
      step_seconds * static_cast<double>(values.size()));
  std::string points;
  std::string circles;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = kMargin + dx * static_cast<double>(i);
    const double y = kChartHeight - kMargin - plot_h * values[i] / top;
    absl::StrAppendFormat(&points, "%.1f,%.1f ", x, y);
    absl::StrAppendFormat(&circles,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                          "fill=\"%s\"/>\n",
                          x, y, colour);
  }
  absl::StrAppendFormat(&svg,
                        "<polyline class=\"series\" fill=\"none\" "
                        "stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n",
                        colour, points);
  svg += circles;
  svg += "</svg>\n";
  return svg;
}

void WriteHtml(const LoadResult& r, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
         "<title>dualrpc-bench load: "
      << HtmlEscape(r.method)
      << "</title>\n<style>\n"
         "body{font-family:sans-serif;margin:20px;color:#222;background:#fff}"
         "table{border-collapse:collapse;margin-bottom:16px}"
         "td,th{border:1px solid #bbb;padding:3px 10px;text-align:right}"
         "th{background:#eef}h2{margin:8px 0;font-size:1.1em}"
         ".row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}\n"
         "</style></head><body>\n";
  out << "<h1>dualrpc-bench load</h1>\n<p>" << HtmlEscape(r.target) << " "
      << HtmlEscape(r.method) << " &mdash; " << HtmlEscape(r.schedule) << ", "
      << r.concurrency << " callers, " << r.connections << " connections, "
      << HtmlEscape(r.date) << "</p>\n";

  out << "<div class=\"row\">\n<div><h2>Summary</h2>\n<table id=\"summary\">\n";
  auto row = [&](absl::string_view name, const std::string& id,
                 const std::string& value) {
    out << "<tr><th>" << name << "</th><td id=\"" << id << "\">"
        << HtmlEscape(value) << "</td></tr>\n";
  };
  row("Count", "count", absl::StrCat(r.count()));
  row("Total", "total", Ms(r.total_nanos));
  row("Slowest", "slowest", Ms(r.latency.max()));
  row("Fastest", "fastest", Ms(r.latency.min()));
  row("Average", "average", Ms(static_cast<int64_t>(r.latency.mean())));
  row("Requests/sec", "rps", absl::StrFormat("%.2f", r.requests_per_second()));
  out << "</table>\n";

  out << "</div><div><h2>Latency distribution</h2>\n<table "
         "id=\"percentiles\">\n";
  for (double p : kLoadPercentiles) {
    row(absl::StrCat(PercentileLabel(p), " %"),
        absl::StrCat("p", PercentileLabel(p)),
        Ms(r.latency.ValueAtPercentile(p)));
  }
  out << "</table>\n";

  out << "</div><div><h2>Status code distribution</h2>\n<table "
         "id=\"status-codes\">\n";
  for (const auto& [code, count] : r.status_codes) {
    row(code, absl::StrCat("status-", code), absl::StrCat(count));
  }
  out << "</table>\n";
  if (!r.errors.empty()) {
    out << "</div><div><h2>Error distribution</h2>\n<table id=\"errors\">\n";
    for (const auto& [error, count] : r.errors) {
      out << "<tr><td>" << count << "</td><td style=\"text-align:left\">"
          << HtmlEscape(error) << "</td></tr>\n";
    }
    out << "</table>\n";
  }

  out << "</div></div>\n";
  std::vector<double> counts;
  std::vector<std::string> marks;
  for (const LinearBucket& b : LinearHistogram(r.latency)) {
    counts.push_back(static_cast<double>(b.count));
    marks.push_back(absl::StrFormat("%.3f", Millis(b.mark_nanos)));
  }
  out << "<div class=\"row\">\n<div><h2>Latency histogram</h2>\n"
      << SvgBars("latency-histogram", counts, marks,
                 "calls per latency range (upper edge, ms)");

  const double bin_seconds = static_cast<double>(r.bin_nanos) / 1e9;
  std::vector<double> throughput;
  std::vector<double> mean_latency;
  for (const LoadTimeBin& bin : r.bins) {
    throughput.push_back(
        bin_seconds > 0 ? static_cast<double>(bin.calls) / bin_seconds : 0.0);
    mean_latency.push_back(bin.calls > 0 ? Millis(bin.latency_sum_nanos) /
                                               static_cast<double>(bin.calls)
                                         : 0.0);
  }
  out << "</div><div><h2>Throughput over time</h2>\n"
      << SvgLine("throughput-over-time", throughput, bin_seconds, "calls/s",
                 "#2a9d3f");
  out << "</div><div><h2>Latency over time</h2>\n"
      << SvgLine("latency-over-time", mean_latency, bin_seconds,
                 "mean latency (ms)", "#d8613b")
      << "</div></div>\n";
  out << "</body></html>\n";
}

}  // namespace

std::vector<LinearBucket> LinearHistogram(const LatencyHistogram& latency) {
  std::vector<LinearBucket> buckets;
  if (latency.count() == 0) return buckets;
  const int64_t lo = latency.min();
  const int64_t hi = latency.max();
  const int64_t width = std::max<int64_t>(
      1, (hi - lo + kLoadHistogramBuckets - 1) / kLoadHistogramBuckets);
  for (int i = 0; i < kLoadHistogramBuckets; ++i) {
    buckets.push_back({std::min(hi, lo + width * (i + 1)), 0});
  }
  for (int index = 0; index < LatencyHistogram::BucketCount(); ++index) {
    const int64_t n = latency.CountInBucket(index);
    if (n == 0) continue;
    const int64_t value =
        std::clamp(LatencyHistogram::BucketHighest(index), lo, hi);
    const int slot = static_cast<int>(
        std::min<int64_t>(kLoadHistogramBuckets - 1, (value - lo) / width));
    buckets[slot].count += n;
  }
  return buckets;
}

absl::StatusOr<LoadFormat> ParseLoadFormat(absl::string_view name) {
  if (name == "summary") return LoadFormat::kSummary;
  if (name == "json") return LoadFormat::kJson;
  if (name == "csv") return LoadFormat::kCsv;
  if (name == "html") return LoadFormat::kHtml;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown output format \"", name, "\" (summary, json, csv, html)"));
}

void WriteLoadReport(const LoadResult& result, LoadFormat format,
                     std::ostream& out) {
  switch (format) {
    case LoadFormat::kSummary:
      WriteSummary(result, out);
      return;
    case LoadFormat::kJson:
      out << ToJson(result).dump(2) << "\n";
      return;
    case LoadFormat::kCsv:
      WriteCsv(result, out);
      return;
    case LoadFormat::kHtml:
      WriteHtml(result, out);
      return;
  }
}

}  // namespace dualrpc::bench
