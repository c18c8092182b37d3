// The conformance suite (cases.json, schema conformance.proto) run through
// the generated C++ client against one real dualrpc-server process, over
// both transports. Every case must give the same status code and the same
// response on grpc:// and raw:// — the expectation in cases.json. The
// streaming cases (walk_*, echo_stream_*) use the generated blocking
// helpers (rpc/blocking_stream.h); they need the streaming transports and
// service (issue 10) to pass.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/conformance/v1/conformance.pb.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::client {
namespace {

using ::dualrpc_testing::IsOk;
using ::testing::ElementsAreArray;

using conformance::v1::Case;
using conformance::v1::Suite;

Suite LoadSuite() {
  std::ifstream in(DUALRPC_CONFORMANCE_CASES);
  std::stringstream json;
  json << in.rdbuf();
  Suite suite;
  auto status = google::protobuf::util::JsonStringToMessage(json.str(), &suite);
  if (!status.ok()) {
    ADD_FAILURE() << "cannot parse " << DUALRPC_CONFORMANCE_CASES << ": "
                  << status;
  }
  return suite;
}

const Suite& TheSuite() {
  static const Suite* suite = new Suite(LoadSuite());
  return *suite;
}

void BuildFixture(const Suite& suite, const dualrpc_testing::TempDir& root) {
  for (const conformance::v1::Node& node : suite.fixture()) {
    switch (node.kind_case()) {
      case conformance::v1::Node::kFileContents:
        root.WriteFile(node.path(), node.file_contents());
        ::chmod(root.HostPath(node.path()).c_str(), 0644);
        break;
      case conformance::v1::Node::kDirectory:
        root.MakeDir(node.path());
        break;
      case conformance::v1::Node::kSymlinkTarget:
        root.Symlink(node.symlink_target(), node.path());
        break;
      default:
        ADD_FAILURE() << "fixture node without a kind: " << node.path();
    }
  }
}

// One dualrpc-server per test process, serving the fixture on both
// transports; stopped (and its fixture removed) when the process's tests end.
class ConformanceEnvironment : public ::testing::Environment {
 public:
  static ConformanceEnvironment& Get() { return *instance_; }

  void SetUp() override {
    root_ = std::make_unique<dualrpc_testing::TempDir>();
    BuildFixture(TheSuite(), *root_);
    // The server authenticates (Suite.auth_tokens): the token file lives
    // beside the fixture, not in the served tree.
    config_ = std::make_unique<dualrpc_testing::TempDir>();
    config_->WriteFile("tokens", TheSuite().auth_tokens());
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(
            root_->path(),
            {"--auth_tokens=" + config_->HostPath("tokens"),
             "--auth_open_methods=" + TheSuite().auth_open_methods()});
    if (server.ok()) server_ = *std::move(server);
    EXPECT_THAT(server, IsOk());
  }
  void TearDown() override {
    server_.reset();
    root_.reset();
    config_.reset();
  }

  std::string address(const std::string& transport) const {
    return server_ == nullptr ? "" : server_->Address(transport).value_or("");
  }

  // Owned by GoogleTest once registered.
  static ConformanceEnvironment* const instance_;

 private:
  std::unique_ptr<dualrpc_testing::TempDir> root_;
  std::unique_ptr<dualrpc_testing::TempDir> config_;
  std::unique_ptr<dualrpc_testing::ServerProcess> server_;
};

ConformanceEnvironment* const ConformanceEnvironment::instance_ =
    static_cast<ConformanceEnvironment*>(
        ::testing::AddGlobalTestEnvironment(new ConformanceEnvironment()));

std::shared_ptr<rpc::Channel> MakeChannel(const std::string& transport) {
  const std::string address = ConformanceEnvironment::Get().address(transport);
  if (transport == "grpc") return *grpc::GrpcChannel::Create(address);
  return *raw::RawChannel::Create(address);
}

// The case's own deadline (timeout_ms), else a generous one; its
// authorization (Case.authorization, else the suite's default; "" sends
// none).
rpc::CallOptions Deadline(const Case& c) {
  rpc::CallOptions options;
  options.timeout = c.timeout_ms() > 0 ? absl::Milliseconds(c.timeout_ms())
                                       : absl::Seconds(30);
  const std::string& authorization = c.has_authorization()
                                         ? c.authorization()
                                         : TheSuite().default_authorization();
  if (!authorization.empty()) {
    options.metadata.emplace_back("authorization", authorization);
  }
  return options;
}

// What a case produced: a status and, for OK, the response.
struct Outcome {
  absl::Status status;
  v1::EchoResponse echo;
  std::vector<v1::DirectoryEntry> entries;
  bool more_pages = false;
  // WalkTree: every entry of the stream; EchoStream: the payloads read
  // (also when the call then failed).
  std::vector<v1::TreeEntry> tree_entries;
  std::vector<std::string> echo_payloads;
};

Outcome Failed(absl::Status status) {
  Outcome outcome;
  outcome.status = std::move(status);
  return outcome;
}

Outcome RunEcho(v1::FileServiceClient& client, const Case& c) {
  v1::EchoRequest request = c.echo();
  if (c.echo_payload_bytes() > 0)
    request.set_payload(std::string(c.echo_payload_bytes(), 'x'));
  absl::StatusOr<v1::EchoResponse> response = client.Echo(request, Deadline(c));
  Outcome outcome = Failed(response.status());
  if (response.ok()) outcome.echo = *std::move(response);
  return outcome;
}

Outcome RunListDirectory(v1::FileServiceClient& client, const Case& c) {
  v1::ListDirectoryRequest request = c.list_directory();
  if (!c.page_token_from_path().empty()) {
    v1::ListDirectoryRequest first;
    first.set_path(c.page_token_from_path());
    first.set_page_size(1);
    absl::StatusOr<v1::ListDirectoryResponse> page =
        client.ListDirectory(first, Deadline(c));
    if (!page.ok()) return Failed(page.status());
    request.set_page_token(page->next_page_token());
  }
  Outcome outcome;
  for (int pages = 0; pages < 1000; ++pages) {
    absl::StatusOr<v1::ListDirectoryResponse> page =
        client.ListDirectory(request, Deadline(c));
    if (!page.ok()) return Failed(page.status());
    outcome.entries.insert(outcome.entries.end(), page->entries().begin(),
                           page->entries().end());
    outcome.more_pages = !page->next_page_token().empty();
    if (!c.follow_pages() || !outcome.more_pages) break;
    request.set_page_token(page->next_page_token());
  }
  return outcome;
}

Outcome RunWalkTree(v1::FileServiceClient& client, const Case& c) {
  std::unique_ptr<rpc::ClientReader<v1::WalkTreeResponse>> walk =
      client.WalkTree(c.walk_tree(), Deadline(c));
  Outcome outcome;
  v1::WalkTreeResponse response;
  while (walk->Read(&response)) {
    outcome.tree_entries.insert(outcome.tree_entries.end(),
                                response.entries().begin(),
                                response.entries().end());
  }
  outcome.status = walk->Finish();
  return outcome;
}

// EchoStream as conformance.proto's EchoStreamScript says.
Outcome RunEchoStream(v1::FileServiceClient& client, const Case& c) {
  const conformance::v1::EchoStreamScript& script = c.echo_stream();
  std::unique_ptr<rpc::ClientReaderWriter<v1::EchoRequest, v1::EchoResponse>>
      stream = client.EchoStream(Deadline(c));
  Outcome outcome;
  v1::EchoResponse response;
  auto read_one = [&] {
    if (!stream->Read(&response)) return false;
    outcome.echo_payloads.push_back(response.payload());
    return true;
  };
  v1::EchoRequest request;
  for (const std::string& payload : script.payloads()) {
    request.set_payload(payload);
    if (!stream->Write(request)) break;
    if (!script.send_all_first() && !read_one()) break;
  }
  if (script.then_payload_bytes() > 0) {
    request.set_payload(std::string(script.then_payload_bytes(), 'x'));
    stream->Write(request);  // the call fails: the status tells how
  } else if (script.then_cancel()) {
    stream->Cancel();
  } else if (!script.then_wait()) {
    stream->WritesDone();
  }
  while (read_one()) {
  }
  outcome.status = stream->Finish();
  return outcome;
}

// The fields set in `expected` (besides the name) must match.
void ExpectEntryMatches(const v1::DirectoryEntry& expected,
                        const v1::DirectoryEntry& actual) {
  EXPECT_EQ(actual.name(), expected.name());
  if (expected.type() != v1::DirectoryEntry::TYPE_UNSPECIFIED) {
    EXPECT_EQ(actual.type(), expected.type()) << expected.name();
  }
  if (expected.size_bytes() != 0) {
    EXPECT_EQ(actual.size_bytes(), expected.size_bytes()) << expected.name();
  }
  EXPECT_EQ(actual.symlink_target(), expected.symlink_target())
      << expected.name();
  EXPECT_TRUE(actual.has_modify_time()) << expected.name();
}

// Only the fields set in `expected` are compared (conformance.proto).
void ExpectTreeEntryMatches(const v1::TreeEntry& expected,
                            const v1::TreeEntry& actual) {
  EXPECT_EQ(actual.path(), expected.path());
  if (expected.depth() != 0) {
    EXPECT_EQ(actual.depth(), expected.depth()) << expected.path();
  }
  const v1::DirectoryEntry& want = expected.entry();
  if (!want.name().empty()) {
    EXPECT_EQ(actual.entry().name(), want.name()) << expected.path();
  }
  if (want.type() != v1::DirectoryEntry::TYPE_UNSPECIFIED) {
    EXPECT_EQ(actual.entry().type(), want.type()) << expected.path();
  }
  if (want.size_bytes() != 0) {
    EXPECT_EQ(actual.entry().size_bytes(), want.size_bytes())
        << expected.path();
  }
  if (!want.symlink_target().empty()) {
    EXPECT_EQ(actual.entry().symlink_target(), want.symlink_target())
        << expected.path();
  }
  if (expected.has_error()) {
    EXPECT_EQ(actual.error().code(), expected.error().code())
        << expected.path();
  }
}

class ConformanceTest
    : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(ConformanceTest, MatchesExpectation) {
  const auto& [transport, index] = GetParam();
  const Case& c = TheSuite().cases(index);
  ASSERT_FALSE(ConformanceEnvironment::Get().address(transport).empty());
  v1::FileServiceClient client(MakeChannel(transport));

  Outcome outcome;
  switch (c.request_case()) {
    case Case::kEcho:
      outcome = RunEcho(client, c);
      break;
    case Case::kListDirectory:
      outcome = RunListDirectory(client, c);
      break;
    case Case::kWalkTree:
      outcome = RunWalkTree(client, c);
      break;
    case Case::kEchoStream:
      outcome = RunEchoStream(client, c);
      break;
    case Case::REQUEST_NOT_SET:
      FAIL() << c.name() << " has no request";
  }

  ASSERT_EQ(absl::StatusCodeToString(outcome.status.code()), c.expect().code())
      << transport << " " << c.name() << ": " << outcome.status;
  if (c.has_echo_stream()) {
    // Compared whatever the status: a failing call's earlier responses too.
    EXPECT_THAT(outcome.echo_payloads,
                ElementsAreArray(c.expect().echo_payloads().begin(),
                                 c.expect().echo_payloads().end()));
    return;
  }
  if (!outcome.status.ok()) return;
  if (c.has_walk_tree()) {
    ASSERT_EQ(outcome.tree_entries.size(),
              static_cast<std::size_t>(c.expect().tree_entries_size()));
    for (int i = 0; i < c.expect().tree_entries_size(); ++i) {
      ExpectTreeEntryMatches(c.expect().tree_entries(i),
                             outcome.tree_entries[i]);
    }
    return;
  }
  if (c.has_echo()) {
    if (c.expect().echo_payload_bytes() > 0) {
      EXPECT_EQ(outcome.echo.payload(),
                std::string(c.expect().echo_payload_bytes(), 'x'));
    } else {
      EXPECT_EQ(outcome.echo.payload(), c.expect().echo().payload());
    }
    return;
  }
  ASSERT_EQ(outcome.entries.size(),
            static_cast<std::size_t>(c.expect().entries_size()));
  for (int i = 0; i < c.expect().entries_size(); ++i) {
    ExpectEntryMatches(c.expect().entries(i), outcome.entries[i]);
  }
  if (!c.follow_pages()) {
    EXPECT_EQ(outcome.more_pages, c.expect().more_pages());
  }
}

std::vector<int> CaseIndexes() {
  std::vector<int> indexes;
  for (int i = 0; i < TheSuite().cases_size(); ++i) indexes.push_back(i);
  return indexes;
}

INSTANTIATE_TEST_SUITE_P(
    BothTransports, ConformanceTest,
    ::testing::Combine(::testing::Values("grpc", "raw"),
                       ::testing::ValuesIn(CaseIndexes())),
    [](const ::testing::TestParamInfo<ConformanceTest::ParamType>& info) {
      return absl::StrCat(std::get<0>(info.param), "_",
                          TheSuite().cases(std::get<1>(info.param)).name());
    });

}  // namespace
}  // namespace dualrpc::client
