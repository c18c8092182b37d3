// dualrpc-server --access_log as a real process: known calls on both
// transports (an Echo, a ListDirectory NOT_FOUND, a call refused
// UNAUTHENTICATED by --auth_tokens, an EchoStream), then a drain (SIGTERM):
// the file holds exactly one line per call with the right transport,
// method, code, principal and sizes; a call that ends during the drain is
// logged; "-" writes to standard output; JSON lines parse.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/server/server_process.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

constexpr char kEchoMethod[] = "/dualrpc.v1.FileService/Echo";
constexpr char kListMethod[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr char kEchoStreamMethod[] = "/dualrpc.v1.FileService/EchoStream";
constexpr absl::Duration kExitTimeout = absl::Seconds(30);

using Fields = std::map<std::string, std::string>;

// One logfmt line as key -> value, quotes and escapes undone; the keys in
// order in `*keys`. ADD_FAILURE on a malformed line.
Fields ParseLogfmt(absl::string_view line, std::vector<std::string>* keys) {
  Fields fields;
  std::size_t i = 0;
  while (i < line.size()) {
    const std::size_t equals = line.find('=', i);
    if (equals == absl::string_view::npos) {
      ADD_FAILURE() << "no '=' in " << line.substr(i);
      return fields;
    }
    std::string key(line.substr(i, equals - i));
    std::string value;
    i = equals + 1;
    if (i < line.size() && line[i] == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] != '\\') {
          value.push_back(line[i]);
          continue;
        }
        const char escape = line[++i];
        if (escape == 'n') {
          value.push_back('\n');
        } else if (escape == 't') {
          value.push_back('\t');
        } else if (escape == 'x') {
          int byte = 0;
          EXPECT_TRUE(absl::SimpleHexAtoi(line.substr(i + 1, 2), &byte));
          value.push_back(static_cast<char>(byte));
          i += 2;
        } else {
          value.push_back(escape);
        }
      }
      ++i;  // the closing quote
    } else {
      const std::size_t end = std::min(line.find(' ', i), line.size());
      value = std::string(line.substr(i, end - i));
      i = end;
    }
    if (i < line.size()) {
      EXPECT_EQ(line[i], ' ') << line;
      ++i;
    }
    if (keys != nullptr) keys->push_back(key);
    fields[key] = std::move(value);
  }
  return fields;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// What a line says of its call, for comparing a file with the calls made.
std::string Summary(const Fields& f) {
  const auto get = [&f](const char* key) {
    auto it = f.find(key);
    return it == f.end() ? std::string("<none>") : it->second;
  };
  return absl::StrCat(
      get("transport"), " ", get("method"), " ", get("code"),
      " principal=", get("principal"), " req=", get("request_messages"), "/",
      get("request_bytes"), " resp=", get("response_messages"), "/",
      get("response_bytes"), f.count("error") != 0 ? " error" : "");
}

std::string Expected(const std::string& transport, const char* method,
                     const char* code, const char* principal, int requests,
                     std::size_t request_bytes, int responses,
                     std::size_t response_bytes) {
  return absl::StrCat(transport, " ", method, " ", code,
                      " principal=", principal, " req=", requests, "/",
                      request_bytes, " resp=", responses, "/", response_bytes,
                      absl::string_view(code) == "OK" ? "" : " error");
}

class AccessLogServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("hello.txt", "hello\n");
    config_.WriteFile("tokens", "alice-secret alice\n");
  }

  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> Start(
      std::vector<std::string> flags) {
    flags.push_back("--auth_tokens=" + config_.HostPath("tokens"));
    flags.push_back("--shutdown_grace=20s");
    return dualrpc_testing::StartServer(root_.path(), flags);
  }

  static std::shared_ptr<rpc::Channel> Channel(
      const dualrpc_testing::ServerProcess& server,
      const std::string& transport) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(transport + "://" +
                              server.Address(transport).value_or(""));
    EXPECT_THAT(channel, IsOk());
    return channel.value_or(nullptr);
  }

  static rpc::CallOptions WithToken(bool token) {
    rpc::CallOptions options;
    options.timeout = absl::Seconds(20);
    if (token)
      options.metadata.emplace_back("authorization", "Bearer alice-secret");
    return options;
  }

  // The four calls on `transport`; appends the lines they must leave.
  void MakeCalls(const dualrpc_testing::ServerProcess& server,
                 const std::string& transport,
                 std::vector<std::string>* expected) {
    v1::FileServiceClient client(Channel(server, transport));
    v1::EchoRequest echo;
    echo.set_payload("hello, log");
    const std::size_t echo_bytes = echo.ByteSizeLong();
    EXPECT_THAT(client.Echo(echo, WithToken(true)), IsOk());
    expected->push_back(Expected(transport, kEchoMethod, "OK", "alice", 1,
                                 echo_bytes, 1, echo_bytes));

    v1::ListDirectoryRequest list;
    list.set_path("no/such/dir");
    EXPECT_THAT(client.ListDirectory(list, WithToken(true)),
                StatusIs(absl::StatusCode::kNotFound));
    expected->push_back(Expected(transport, kListMethod, "NOT_FOUND", "alice",
                                 1, list.ByteSizeLong(), 0, 0));

    EXPECT_THAT(client.Echo(echo, WithToken(false)),
                StatusIs(absl::StatusCode::kUnauthenticated));
    // Refused before the implementation, but after the request was read.
    expected->push_back(Expected(transport, kEchoMethod, "UNAUTHENTICATED", "",
                                 1, echo_bytes, 0, 0));

    auto stream = client.EchoStream(WithToken(true));
    std::size_t stream_bytes = 0;
    for (const char* payload : {"a", "bb", "ccc"}) {
      v1::EchoRequest message;
      message.set_payload(payload);
      stream_bytes += message.ByteSizeLong();
      ASSERT_TRUE(stream->Write(message));
      v1::EchoResponse response;
      ASSERT_TRUE(stream->Read(&response));
    }
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_THAT(stream->Finish(), IsOk());
    expected->push_back(Expected(transport, kEchoStreamMethod, "OK", "alice", 3,
                                 stream_bytes, 3, stream_bytes));
  }

  static void Drain(dualrpc_testing::ServerProcess& server) {
    ASSERT_THAT(server.Signal(SIGTERM), IsOk());
    EXPECT_THAT(server.WaitForExit(kExitTimeout), IsOkAndHolds(0))
        << server.StderrText();
  }

  TempDir root_;
  TempDir config_;
};

TEST_F(AccessLogServerTest, OneLinePerCallOnBothTransportsWrittenByTheDrain) {
  const std::string path = config_.path() + "/access.log";
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      Start({"--access_log=" + path});
  ASSERT_THAT(server, IsOk());
  std::vector<std::string> expected;
  for (const std::string transport : {"raw", "grpc"}) {
    MakeCalls(**server, transport, &expected);
  }
  Drain(**server);

  const std::vector<std::string> lines = Lines(ReadFile(path));
  std::vector<std::string> got;
  for (const std::string& line : lines) {
    std::vector<std::string> keys;
    const Fields fields = ParseLogfmt(line, &keys);
    got.push_back(Summary(fields));
    std::vector<std::string> fixed(
        keys.begin(), keys.begin() + std::min<std::size_t>(keys.size(), 11));
    EXPECT_THAT(fixed, ElementsAre("time", "transport", "peer", "method",
                                   "code", "duration_s", "request_bytes",
                                   "response_bytes", "request_messages",
                                   "response_messages", "principal"))
        << line;
    EXPECT_THAT(fields.at("time"),
                MatchesRegex("20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:"
                             "[0-5][0-9]:[0-6][0-9]\\.[0-9]{6}Z"))
        << line;
    EXPECT_THAT(fields.at("peer"), StartsWith("ipv4:127.0.0.1:")) << line;
    EXPECT_THAT(fields.at("duration_s"), MatchesRegex("[0-9]+\\.[0-9]{6}"));
    if (fields.at("code") == "UNAUTHENTICATED") {
      EXPECT_THAT(fields.at("error"), HasSubstr("Echo")) << line;
      EXPECT_THAT(line, HasSubstr(" principal=\"\" ")) << line;
    }
  }
  EXPECT_THAT(got, UnorderedElementsAreArray(expected));
}

// A call in flight when the drain starts ends during it: its line is in the
// file when the process has exited.
TEST_F(AccessLogServerTest, CallEndingDuringTheDrainIsLogged) {
  const std::string path = config_.path() + "/access.log";
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      Start({"--access_log=" + path});
  ASSERT_THAT(server, IsOk());
  for (const std::string transport : {"raw", "grpc"}) {
    v1::FileServiceClient client(Channel(**server, transport));
    auto stream = client.EchoStream(WithToken(true));
    v1::EchoRequest message;
    message.set_payload("before");
    ASSERT_TRUE(stream->Write(message));
    v1::EchoResponse response;
    ASSERT_TRUE(stream->Read(&response));  // the server has the call
    ASSERT_THAT((*server)->Signal(SIGTERM), IsOk());
    message.set_payload("during the drain");
    ASSERT_TRUE(stream->Write(message)) << transport;
    ASSERT_TRUE(stream->Read(&response)) << transport;
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_THAT(stream->Finish(), IsOk()) << transport;
    EXPECT_THAT((*server)->WaitForExit(kExitTimeout), IsOkAndHolds(0))
        << (*server)->StderrText();
    const std::vector<std::string> lines = Lines(ReadFile(path));
    ASSERT_EQ(lines.size(), 1u) << ReadFile(path);
    const Fields fields = ParseLogfmt(lines[0], nullptr);
    EXPECT_EQ(fields.at("transport"), transport);
    EXPECT_EQ(fields.at("method"), kEchoStreamMethod);
    EXPECT_EQ(fields.at("request_messages"), "2");
    EXPECT_EQ(fields.at("response_messages"), "2");
    // The next transport on a fresh server and file.
    ASSERT_EQ(std::remove(path.c_str()), 0);
    server = Start({"--access_log=" + path});
    ASSERT_THAT(server, IsOk());
  }
}

TEST_F(AccessLogServerTest, JsonLinesParse) {
  const std::string path = config_.path() + "/access.jsonl";
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      Start({"--access_log=" + path, "--access_log_format=json"});
  ASSERT_THAT(server, IsOk());
  std::vector<std::string> expected;
  for (const std::string transport : {"raw", "grpc"}) {
    MakeCalls(**server, transport, &expected);
  }
  Drain(**server);
  std::vector<std::string> got;
  for (const std::string& line : Lines(ReadFile(path))) {
    const nlohmann::json json = nlohmann::json::parse(line);
    Fields fields;
    for (const auto& [key, value] : json.items()) {
      fields[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    EXPECT_TRUE(json["request_bytes"].is_number_integer()) << line;
    EXPECT_TRUE(json["duration_s"].is_number()) << line;
    got.push_back(Summary(fields));
  }
  EXPECT_THAT(got, UnorderedElementsAreArray(expected));
}

// "-": the lines go to standard output (through a shell that redirects the
// server's stdout to a file; ServerProcess itself discards it).
TEST_F(AccessLogServerTest, DashWritesToStandardOutput) {
  const std::string out = config_.path() + "/stdout.txt";
  std::vector<std::string> argv = {"/bin/sh",
                                   "-c",
                                   "exec \"$0\" \"$@\" >'" + out + "'",
                                   BinaryPath("dualrpc-server"),
                                   "--root=" + root_.path(),
                                   "--grpc_listen=127.0.0.1:0",
                                   "--raw_listen=127.0.0.1:0",
                                   "--access_log=-"};
  ServerProcessOptions options;
  options.name = "dualrpc-server";
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(argv, options);
  ASSERT_THAT(server, IsOk());
  v1::EchoRequest echo;
  echo.set_payload("to stdout");
  for (const std::string transport : {"raw", "grpc"}) {
    v1::FileServiceClient client(Channel(**server, transport));
    EXPECT_THAT(client.Echo(echo, WithToken(false)), IsOk());
  }
  ASSERT_THAT((*server)->Signal(SIGTERM), IsOk());
  EXPECT_THAT((*server)->WaitForExit(kExitTimeout), IsOkAndHolds(0));
  std::vector<std::string> got;
  for (const std::string& line : Lines(ReadFile(out))) {
    got.push_back(Summary(ParseLogfmt(line, nullptr)));
  }
  const std::size_t bytes = echo.ByteSizeLong();
  EXPECT_THAT(
      got, UnorderedElementsAreArray(
               {Expected("raw", kEchoMethod, "OK", "", 1, bytes, 1, bytes),
                Expected("grpc", kEchoMethod, "OK", "", 1, bytes, 1, bytes)}));
}

// SIGHUP after a rename (logrotate): later lines go to a new file.
TEST_F(AccessLogServerTest, SighupReopensTheFile) {
  const std::string path = config_.path() + "/access.log";
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      Start({"--access_log=" + path});
  ASSERT_THAT(server, IsOk());
  v1::FileServiceClient client(Channel(**server, "raw"));
  v1::EchoRequest echo;
  echo.set_payload("first");
  ASSERT_THAT(client.Echo(echo, WithToken(true)), IsOk());
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_THAT((*server)->Signal(SIGHUP), IsOk());
  // The reopen is logged once done; new calls go to the new file from then.
  const std::string reopened = absl::StrCat("reopened access log ", path);
  ASSERT_TRUE(dualrpc_testing::Eventually([&] {
    return absl::StrContains((*server)->StderrText(), reopened);
  })) << (*server)->StderrText();
  echo.set_payload("second");
  ASSERT_THAT(client.Echo(echo, WithToken(true)), IsOk());
  Drain(**server);
  EXPECT_EQ(Lines(ReadFile(path + ".1")).size(), 1u);
  EXPECT_EQ(Lines(ReadFile(path)).size(), 1u);
}

TEST(AccessLogFlagsTest, BadValuesExitTwoNamingTheFlag) {
  TempDir root;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--access_log=" + root.path() + "/missing/dir/access.log"},
       "--access_log: cannot open \"" + root.path() +
           "/missing/dir/access.log"},
      {{"--access_log=-", "--access_log_format=xml"}, "--access_log_format"},
      {{"--access_log=-", "--access_log_buffer_bytes=0"},
       "--access_log_buffer_bytes"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {
        BinaryPath("dualrpc-server"), "--root=" + root.path(),
        "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    dualrpc_testing::CommandResult result =
        dualrpc_testing::RunCommand(argv, "", absl::Seconds(30));
    EXPECT_EQ(result.exit_code, 2) << flags.back();
    EXPECT_THAT(result.stderr_text, HasSubstr(message));
    EXPECT_THAT(result.stderr_text, ::testing::Not(HasSubstr("listening")));
  }
}

}  // namespace
}  // namespace dualrpc::server
