// `dualrpc-bench load` as a user runs it: the real binary against a real
// dualrpc-server on port 0, over both transports, its reports parsed.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dualrpc/server/server_process.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
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

constexpr char kEcho[] = "dualrpc.v1.FileService/Echo";
// "hello" in base64, protobuf JSON's form of bytes.
constexpr char kEchoJson[] = R"({"payload":"aGVsbG8="})";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A FileDescriptorSet with dualrpc/v1/file_service.proto and its imports,
// from the descriptors compiled into this test.
void WriteProtoset(const std::string& path) {
  google::protobuf::FileDescriptorSet set;
  const google::protobuf::FileDescriptor* file =
      v1::EchoRequest::descriptor()->file();
  for (int i = 0; i < file->dependency_count(); ++i) {
    file->dependency(i)->CopyTo(set.add_file());
  }
  file->CopyTo(set.add_file());
  std::ofstream out(path, std::ios::binary);
  ASSERT_TRUE(set.SerializeToOstream(&out));
}

class LoadCommandTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto server = dualrpc_testing::StartServer(root_.path());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  // grpc://… or raw://… of the running server, by the test's parameter.
  std::string Target() const {
    auto address = server_->Address(GetParam());
    EXPECT_THAT(address, IsOk());
    return absl::StrCat(GetParam(), "://", address.value_or(""));
  }

  // Runs `dualrpc-bench load --target T <args> -O json -o FILE` and returns
  // the parsed report (a test failure and null if it did not run).
  nlohmann::json LoadJson(std::vector<std::string> args) {
    const std::string report = out_.HostPath("report.json");
    std::vector<std::string> argv = {BinaryPath("dualrpc-bench"), "load",
                                     "--target", Target()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-O", "json", "-o", report});
    const CommandResult run = RunCommand(argv);
    EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
    if (run.exit_code != 0) return nullptr;
    return nlohmann::json::parse(ReadAll(report), nullptr,
                                 /*allow_exceptions=*/false);
  }

  dualrpc_testing::TempDir root_;
  dualrpc_testing::TempDir out_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
};

TEST_P(LoadCommandTest, ClosedLoopMakesExactlyTheCountAllOk) {
  const nlohmann::json report =
      LoadJson({"--call", kEcho, "-d", kEchoJson, "-n", "200", "-c", "4"});
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["count"], 200);
  EXPECT_EQ(report["statusCodeDistribution"], nlohmann::json({{"OK", 200}}));
  EXPECT_TRUE(report["errorDistribution"].empty());
  EXPECT_EQ(report["options"]["concurrency"], 4);
  EXPECT_EQ(report["latencyDistribution"].size(), 7u);
  int64_t in_histogram = 0;
  for (const auto& bucket : report["histogram"]) {
    in_histogram += bucket["count"].get<int64_t>();
  }
  EXPECT_EQ(in_histogram, 200);
  EXPECT_LE(report["fastest"].get<int64_t>(), report["average"].get<int64_t>());
  EXPECT_LE(report["average"].get<int64_t>(), report["slowest"].get<int64_t>());
}

// Paced for one second at 200/s: the count and the rate are the target's,
// within a bound generous enough for a loaded machine (a call that cannot
// start on time still starts, late, and is counted).
TEST_P(LoadCommandTest, OpenLoopKeepsTheRate) {
  const nlohmann::json report =
      LoadJson({"--call", kEcho, "-d", kEchoJson, "-z", "1s", "--rps", "200",
                "-c", "4", "--connections", "2"});
  ASSERT_TRUE(report.is_object());
  EXPECT_GE(report["count"].get<int64_t>(), 150);
  EXPECT_LE(report["count"].get<int64_t>(), 230);
  EXPECT_GE(report["rps"].get<double>(), 100);
  EXPECT_LE(report["rps"].get<double>(), 260);
  EXPECT_EQ(report["statusCodeDistribution"].size(), 1u);
  EXPECT_EQ(report["statusCodeDistribution"]["OK"], report["count"]);
}

TEST_P(LoadCommandTest, FailedCallsFillTheStatusAndErrorDistributions) {
  const nlohmann::json report =
      LoadJson({"--call", "dualrpc.v1.FileService/ListDirectory", "-d",
                R"({"path":"no/such/dir"})", "-n", "30", "-c", "3", "-H",
                "x-load-test: 1"});
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["count"], 30);
  EXPECT_EQ(report["statusCodeDistribution"],
            nlohmann::json({{"NOT_FOUND", 30}}));
  ASSERT_EQ(report["errorDistribution"].size(), 1u);
  EXPECT_THAT(report["errorDistribution"].begin().key(),
              HasSubstr("NOT_FOUND"));
  EXPECT_EQ(report["errorDistribution"].begin().value(), 30);
}

// Descriptors from a FileDescriptorSet file instead of reflection.
TEST_P(LoadCommandTest, ProtosetDescribesTheMethod) {
  const std::string protoset = out_.HostPath("file_service.protoset");
  ASSERT_NO_FATAL_FAILURE(WriteProtoset(protoset));
  const nlohmann::json report = LoadJson(
      {"--call", kEcho, "-d", kEchoJson, "-n", "50", "--protoset", protoset});
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["statusCodeDistribution"], nlohmann::json({{"OK", 50}}));
}

TEST_P(LoadCommandTest, CsvHasOneRowPerCall) {
  const CommandResult run = RunCommand(
      {BinaryPath("dualrpc-bench"), "load", "--target", Target(), "--call",
       kEcho, "-d", kEchoJson, "-n", "40", "-c", "2", "-O", "csv"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const std::vector<std::string> lines =
      absl::StrSplit(run.stdout_text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 41u);
  EXPECT_EQ(lines[0], "start_ms,latency_ms,status,error");
  double previous_start = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    ASSERT_EQ(fields.size(), 4u) << lines[i];
    double start = 0, latency = 0;
    EXPECT_TRUE(absl::SimpleAtod(fields[0], &start)) << lines[i];
    EXPECT_TRUE(absl::SimpleAtod(fields[1], &latency)) << lines[i];
    EXPECT_GE(start, previous_start) << "rows are in start order";
    EXPECT_GT(latency, 0);
    EXPECT_EQ(fields[2], "OK");
    EXPECT_EQ(fields[3], "");
    previous_start = start;
  }
}

TEST_P(LoadCommandTest, SummaryIsGhzs) {
  const CommandResult run =
      RunCommand({BinaryPath("dualrpc-bench"), "load", "--target", Target(),
                  "--call", kEcho, "-d", kEchoJson, "-n", "20", "-c", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  for (const char* part :
       {"Count:\t20", "Total:", "Slowest:", "Fastest:", "Average:",
        "Requests/sec:", "Response time histogram:", "Latency distribution:",
        "99 % in", "Status code distribution:", "[OK]\t20 responses"}) {
    EXPECT_THAT(run.stdout_text, HasSubstr(part));
  }
}

INSTANTIATE_TEST_SUITE_P(BothTransports, LoadCommandTest,
                         ::testing::Values("grpc", "raw"),
                         [](const auto& info) { return info.param; });

// Against a server that is not dualrpc's (grpcio in Python, no reflection):
// descriptors from --protoset, and every -H arrives, lower-cased, as the
// server's error message shows.
TEST(LoadCommandThirdPartyTest, HeadersArriveAtAGrpcioServerWithoutReflection) {
  dualrpc_testing::TempDir out;
  auto server = dualrpc::server::ServerProcess::Start(
      {"/usr/bin/python3", DUALRPC_METADATA_ECHO_SERVER});
  ASSERT_THAT(server, IsOk());
  auto address = (*server)->Address("grpc");
  ASSERT_THAT(address, IsOk());
  const std::string target = absl::StrCat("grpc://", *address);
  const std::string bench = BinaryPath("dualrpc-bench");

  // No reflection there: the load cannot find the method by itself.
  const CommandResult refused = RunCommand(
      {bench, "load", "--target", target, "--call", kEcho, "-n", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.stderr_text, HasSubstr("reflection"));

  const std::string protoset = out.HostPath("file_service.protoset");
  ASSERT_NO_FATAL_FAILURE(WriteProtoset(protoset));
  const std::string report_path = out.HostPath("report.json");
  const CommandResult run = RunCommand({bench,
                                        "load",
                                        "--target",
                                        target,
                                        "--call",
                                        kEcho,
                                        "-d",
                                        kEchoJson,
                                        "--protoset",
                                        protoset,
                                        "-n",
                                        "10",
                                        "-c",
                                        "2",
                                        "-H",
                                        "X-Load-Test: one",
                                        "-H=x-second:two",
                                        "-O",
                                        "json",
                                        "-o",
                                        report_path});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const nlohmann::json report = nlohmann::json::parse(
      ReadAll(report_path), nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["statusCodeDistribution"],
            nlohmann::json({{"PERMISSION_DENIED", 10}}));
  EXPECT_EQ(report["errorDistribution"],
            nlohmann::json(
                {{"PERMISSION_DENIED: x-load-test=one;x-second=two", 10}}));
}

TEST(LoadCommandUsageTest, HelpListsEachCommandsFlagsWithDefaults) {
  const CommandResult load =
      RunCommand({BinaryPath("dualrpc-bench"), "load", "--help"});
  for (const char* flag :
       {"--target", "--call", "--connections", "--rps", "--load_schedule",
        "--protoset", "--timeout", "default: 50", "default: 20s"}) {
    EXPECT_THAT(load.stdout_text, HasSubstr(flag));
  }
  EXPECT_THAT(load.stdout_text, ::testing::Not(HasSubstr("--scenario")));
  const CommandResult bench =
      RunCommand({BinaryPath("dualrpc-bench"), "--help"});
  EXPECT_THAT(bench.stdout_text, HasSubstr("--scenario"));
  EXPECT_THAT(bench.stdout_text, HasSubstr("dualrpc-bench load"));
  EXPECT_THAT(bench.stdout_text, ::testing::Not(HasSubstr("No flags matched")));
}

TEST(LoadCommandUsageTest, UsageErrorsExitTwo) {
  const std::string bench = BinaryPath("dualrpc-bench");
  EXPECT_EQ(RunCommand({bench, "load", "--call", kEcho}).exit_code, 2);
  EXPECT_EQ(RunCommand({bench, "load", "--target", "raw://127.0.0.1:1",
                        "--call", kEcho, "-O", "xml"})
                .exit_code,
            2);
  const CommandResult header =
      RunCommand({bench, "load", "--target", "raw://127.0.0.1:1", "--call",
                  kEcho, "-H", "no colon"});
  EXPECT_EQ(header.exit_code, 2);
  EXPECT_THAT(header.stderr_text, HasSubstr("no colon"));
}

}  // namespace
}  // namespace dualrpc::bench
