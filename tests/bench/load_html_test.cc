// The HTML report of `dualrpc-bench load`, opened in headless Chromium: the
// page's DOM holds the summary numbers and the charts' elements, and a
// screenshot shows the charts' colours (the page rendered, it is not blank).

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::bench {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::testing::HasSubstr;

constexpr char kChromium[] = "/usr/bin/chromium";
// Chromium's first start on a cold cache takes seconds.
constexpr absl::Duration kBrowserTimeout = absl::Seconds(45);

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Chromium headless as root, with nothing that reaches the network.
std::vector<std::string> Chromium(const std::string& profile) {
  return {kChromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          "--user-data-dir=" + profile};
}

TEST(LoadHtmlTest, ReportRendersInChromium) {
  dualrpc_testing::TempDir root;
  dualrpc_testing::TempDir out;
  auto server = dualrpc_testing::StartServer(root.path());
  ASSERT_THAT(server, IsOk());
  auto address = (*server)->Address("raw");
  ASSERT_THAT(address, IsOk());

  // One run, written twice: JSON for the numbers, HTML for the page.
  const std::string html = out.HostPath("report.html");
  const std::string json = out.HostPath("report.json");
  const std::vector<std::string> load = {BinaryPath("dualrpc-bench"),
                                         "load",
                                         "--target",
                                         absl::StrCat("raw://", *address),
                                         "--call",
                                         "dualrpc.v1.FileService/Echo",
                                         "-d",
                                         R"({"payload":"aGVsbG8="})",
                                         "-z",
                                         "1s",
                                         "--rps",
                                         "200",
                                         "-c",
                                         "4"};
  std::vector<std::string> html_run = load;
  html_run.insert(html_run.end(), {"-O", "html", "-o", html});
  const CommandResult made = RunCommand(html_run);
  ASSERT_EQ(made.exit_code, 0) << made.stderr_text;
  const std::string page = ReadAll(html);
  EXPECT_THAT(page, ::testing::Not(HasSubstr("http://127")));
  EXPECT_THAT(page, ::testing::Not(HasSubstr("<script src")));
  EXPECT_THAT(page, ::testing::Not(HasSubstr("<link")));

  // The DOM after Chromium parsed and laid out the page.
  const std::string url = "file://" + html;
  std::vector<std::string> dump = Chromium(out.HostPath("profile-dom"));
  dump.insert(dump.end(), {"--dump-dom", url});
  const CommandResult dom = RunCommand(dump, "", kBrowserTimeout);
  ASSERT_EQ(dom.exit_code, 0) << dom.stderr_text;
  EXPECT_THAT(dom.stdout_text, HasSubstr("id=\"latency-histogram\""));
  EXPECT_THAT(dom.stdout_text, HasSubstr("id=\"throughput-over-time\""));
  EXPECT_THAT(dom.stdout_text, HasSubstr("id=\"latency-over-time\""));
  EXPECT_THAT(dom.stdout_text, HasSubstr("<rect class=\"bar\""));
  EXPECT_THAT(dom.stdout_text, HasSubstr("<polyline class=\"series\""));
  // The summary numbers, as the page shows them: count and rate from the
  // page's own table, checked against the run's figure range.
  const std::string count_cell = "<td id=\"count\">";
  const std::size_t at = dom.stdout_text.find(count_cell);
  ASSERT_NE(at, std::string::npos);
  const int count = std::atoi(dom.stdout_text.c_str() + at + count_cell.size());
  EXPECT_GE(count, 150);
  EXPECT_LE(count, 230);
  EXPECT_THAT(dom.stdout_text, HasSubstr("id=\"rps\""));
  EXPECT_THAT(dom.stdout_text, HasSubstr("id=\"p99\""));
  EXPECT_THAT(dom.stdout_text,
              HasSubstr(absl::StrCat("<td id=\"status-OK\">", count, "</td>")));

  // The screenshot: more than one colour, and the bars' and the throughput
  // line's colours among them.
  const std::string png = out.HostPath("report.png");
  std::vector<std::string> shot = Chromium(out.HostPath("profile-shot"));
  shot.insert(shot.end(),
              {"--screenshot=" + png, "--window-size=1200,900", url});
  const CommandResult took = RunCommand(shot, "", kBrowserTimeout);
  ASSERT_EQ(took.exit_code, 0) << took.stderr_text;
  const CommandResult colours = RunCommand(
      {"/usr/bin/python3", DUALRPC_PNG_COLOURS, png, "3b7dd8", "2a9d3f"});
  ASSERT_EQ(colours.exit_code, 0) << colours.stderr_text;
  EXPECT_THAT(colours.stdout_text, HasSubstr("size 1200x900"));
  int distinct = 0, bar_pixels = 0, line_pixels = 0;
  ASSERT_EQ(std::sscanf(colours.stdout_text.c_str(),
                        "size 1200x900\ncolours %d\n3b7dd8 %d\n2a9d3f %d",
                        &distinct, &bar_pixels, &line_pixels),
            3)
      << colours.stdout_text;
  EXPECT_GT(distinct, 1);
  EXPECT_GT(bar_pixels, 100) << "the histogram's bars are not on screen";
  EXPECT_GT(line_pixels, 100) << "the throughput line is not on screen";
}

}  // namespace
}  // namespace dualrpc::bench
