// The CLI's streaming commands against ScriptedStreamChannel, a fake
// channel whose streams a script answers on their own threads: call for
// server-streaming, client-streaming and bidi methods, ls -R over
// WalkTree, and reflection over one bidi stream. What the transports add
// is covered by tests/integration/cli_streaming_test.

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/cli/commands.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/cli/inspect_commands.h"
#include "dualrpc/cli/listing_format.h"
#include "dualrpc/cli/message_printing.h"
#include "dualrpc/cli/reflection_client.h"
#include "dualrpc/inspection/reflection_service.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.pb.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "scripted_stream_channel.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::DescriptorPool;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// The schema of the generated pool (FileService, Inventory), no reflection.
class GeneratedSource final : public DescriptorSource {
 public:
  absl::StatusOr<std::vector<std::string>> ListServices() override {
    return std::vector<std::string>{"dualrpc.v1.FileService"};
  }
  absl::Status LoadSymbol(absl::string_view symbol) override {
    return pool().FindFileContainingSymbol(std::string(symbol)) != nullptr
               ? absl::OkStatus()
               : absl::NotFoundError(symbol);
  }
  const DescriptorPool& pool() const override {
    return *DescriptorPool::generated_pool();
  }
};

v1::TreeEntry Tree(const std::string& path, uint32_t depth,
                   v1::DirectoryEntry::Type type) {
  v1::TreeEntry entry;
  entry.set_path(path);
  entry.set_depth(depth);
  entry.mutable_entry()->set_name(path.substr(path.rfind('/') + 1));
  entry.mutable_entry()->set_type(type);
  entry.mutable_entry()->set_mode(
      type == v1::DirectoryEntry::TYPE_DIRECTORY ? 0755 : 0644);
  return entry;
}

std::string Batch(std::vector<v1::TreeEntry> entries) {
  v1::WalkTreeResponse response;
  for (v1::TreeEntry& entry : entries) *response.add_entries() = entry;
  return response.SerializeAsString();
}

// A walk of the root with two batches: a.txt, b/ (c.txt, d/ unreadable),
// e/ (f), z.txt.
std::vector<std::string> RootWalk() {
  const auto kDir = v1::DirectoryEntry::TYPE_DIRECTORY;
  const auto kFile = v1::DirectoryEntry::TYPE_FILE;
  v1::TreeEntry unreadable = Tree("b/d", 2, kDir);
  unreadable.mutable_error()->set_code(
      static_cast<int>(absl::StatusCode::kPermissionDenied));
  unreadable.mutable_error()->set_message("open b/d: denied");
  return {Batch({Tree("a.txt", 1, kFile), Tree("b", 1, kDir),
                 Tree("b/c.txt", 2, kFile), unreadable}),
          Batch({Tree("e", 1, kDir), Tree("e/f", 2, kFile),
                 Tree("z.txt", 1, kFile)})};
}

// A server-streaming peer: `responses` for the one request, then `status`.
std::shared_ptr<ScriptedStreamChannel> ServerStreamingPeer(
    std::vector<std::string> responses, absl::Status status = {}) {
  return std::make_shared<ScriptedStreamChannel>([responses,
                                                  status](absl::string_view) {
    StreamScript script;
    script.on_request = [responses](const std::string&) { return responses; };
    script.status = status;
    return script;
  });
}

// ---- ls -R ---------------------------------------------------------------

struct LsResult {
  absl::Status status;
  std::string out;
  std::string err;
};

LsResult LsRecursive(rpc::Channel& channel, LsOptions ls,
                     CallOptions call = {}) {
  ls.recursive = true;
  std::ostringstream out;
  std::ostringstream err;
  LsResult result;
  result.status = RunLsRecursive(channel, call, ls, out, err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

TEST(LsRecursiveTest, PrintsEachDirectoryAsLsDashRDoes) {
  auto channel = ServerStreamingPeer(RootWalk());
  const LsResult result = LsRecursive(*channel, LsOptions());
  EXPECT_EQ(result.out,
            ".:\na.txt\nb\ne\nz.txt\n"
            "\n./b:\nc.txt\nd\n"
            "\n./b/d:\n"
            "\n./e:\nf\n");
  // The unreadable directory: ls's message on stderr, the rest listed, and
  // a failure that is not an RPC error (exit 1).
  EXPECT_EQ(result.err,
            "ls: cannot open directory './b/d': Permission denied\n");
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kPermissionDenied,
                                      HasSubstr("1 directory")));
  EXPECT_EQ(ExitStatusFor(result.status), kExitLocalError);

  const std::vector<RecordedStream> streams = channel->recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_EQ(streams[0].method, "/dualrpc.v1.FileService/WalkTree");
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kServerStreaming);
  ASSERT_THAT(streams[0].requests, SizeIs(1));
  v1::WalkTreeRequest request;
  ASSERT_TRUE(request.ParseFromString(streams[0].requests[0]));
  EXPECT_EQ(request.path(), "");
  EXPECT_EQ(request.max_depth(), 0u);
}

TEST(LsRecursiveTest, NamedPathHeadsWithItAndLongFormatCombines) {
  const auto kFile = v1::DirectoryEntry::TYPE_FILE;
  const auto kDir = v1::DirectoryEntry::TYPE_DIRECTORY;
  const v1::TreeEntry file = Tree("docs/a.md", 1, kFile);
  const v1::TreeEntry dir = Tree("docs/sub", 1, kDir);
  const v1::TreeEntry nested = Tree("docs/sub/x", 2, kFile);
  auto channel = ServerStreamingPeer({Batch({file, dir, nested})});
  LsOptions ls;
  ls.path = "docs";
  ls.long_format = true;
  const LsResult result = LsRecursive(*channel, ls);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(result.out,
            absl::StrCat("docs:\n", FormatLongListing(file.entry()), "\n",
                         FormatLongListing(dir.entry()), "\n\ndocs/sub:\n",
                         FormatLongListing(nested.entry()), "\n"));
  EXPECT_THAT(result.err, IsEmpty());
  v1::WalkTreeRequest request;
  ASSERT_TRUE(request.ParseFromString(channel->recorded()[0].requests[0]));
  EXPECT_EQ(request.path(), "docs");
}

TEST(LsRecursiveTest, FailedWalkPrintsNothingAndReturnsTheCallsStatus) {
  auto channel =
      ServerStreamingPeer(RootWalk(), absl::NotFoundError("no such directory"));
  const LsResult result = LsRecursive(*channel, LsOptions());
  EXPECT_THAT(result.status,
              StatusIs(absl::StatusCode::kNotFound, "no such directory"));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(LsRecursiveTest, AnEntryDeeperThanAnyOpenDirectoryIsAnError) {
  auto channel = ServerStreamingPeer(
      {Batch({Tree("a/b/c", 3, v1::DirectoryEntry::TYPE_FILE)})});
  const LsResult result = LsRecursive(*channel, LsOptions());
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST(LsRecursiveTest, JsonPrintsEachResponseAsItArrives) {
  auto channel = ServerStreamingPeer(RootWalk());
  CallOptions call;
  call.json = true;
  const LsResult result = LsRecursive(*channel, LsOptions(), call);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2);
  EXPECT_THAT(result.out, HasSubstr(R"("path":"b/c.txt")"));
}

TEST(LsRecursiveTest, TimeoutIsTheWalksDeadline) {
  auto channel = ServerStreamingPeer(RootWalk());
  CallOptions call;
  call.timeout = absl::Seconds(7);
  ASSERT_THAT(LsRecursive(*channel, LsOptions(), call).status,
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(channel->recorded()[0].options.timeout, absl::Seconds(7));
}

// ---- call ----------------------------------------------------------------

struct CallResult {
  absl::Status status;
  std::string out;
};

CallResult Call(rpc::Channel& channel, absl::string_view method,
                std::istream& requests, bool verbose = false) {
  GeneratedSource source;
  CallCommandOptions options;
  options.timeout = absl::Seconds(5);
  options.verbose = verbose;
  std::ostringstream out;
  CallResult result;
  result.status = RunCall(channel, source, method, requests, options, out);
  result.out = out.str();
  return result;
}

CallResult Call(rpc::Channel& channel, absl::string_view method,
                const std::string& requests, bool verbose = false) {
  std::istringstream in(requests);
  return Call(channel, method, in, verbose);
}

std::string Printed(const google::protobuf::Message& message) {
  return *FormatMessage(message, PrintOptions());
}

v1::EchoResponse EchoOf(const std::string& payload) {
  v1::EchoResponse response;
  response.set_payload(payload);
  return response;
}

// A bidi EchoStream peer: each request answered with its payload.
std::shared_ptr<ScriptedStreamChannel> EchoStreamPeer(
    absl::Status status = {}) {
  return std::make_shared<ScriptedStreamChannel>([status](absl::string_view) {
    StreamScript script;
    script.on_request = [](const std::string& bytes) {
      v1::EchoRequest request;
      request.ParseFromString(bytes);
      return std::vector<std::string>{
          EchoOf(request.payload()).SerializeAsString()};
    };
    script.status = status;
    script.headers = {{"h", "1"}};
    script.trailers = {{"t", "2"}};
    return script;
  });
}

TEST(StreamingCallTest, ServerStreamingPrintsEveryResponse) {
  const std::vector<std::string> walk = RootWalk();
  auto channel = ServerStreamingPeer(walk);
  const CallResult result = Call(*channel, "dualrpc.v1.FileService/WalkTree",
                                 R"({"path": "docs", "maxDepth": 2})");
  ASSERT_THAT(result.status, IsOk());
  v1::WalkTreeResponse first;
  v1::WalkTreeResponse second;
  ASSERT_TRUE(first.ParseFromString(walk[0]));
  ASSERT_TRUE(second.ParseFromString(walk[1]));
  EXPECT_EQ(result.out, Printed(first) + Printed(second));
  const std::vector<RecordedStream> streams = channel->recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_EQ(streams[0].method, "/dualrpc.v1.FileService/WalkTree");
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kServerStreaming);
  ASSERT_THAT(streams[0].requests, SizeIs(1));
  v1::WalkTreeRequest request;
  ASSERT_TRUE(request.ParseFromString(streams[0].requests[0]));
  EXPECT_EQ(request.path(), "docs");
  EXPECT_EQ(request.max_depth(), 2u);
}

TEST(StreamingCallTest, ServerStreamingTakesOneRequestOnly) {
  auto channel = ServerStreamingPeer({});
  const CallResult result = Call(*channel, "dualrpc.v1.FileService/WalkTree",
                                 R"({"path": "a"} {"path": "b"})");
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(channel->recorded(), IsEmpty());
}

TEST(StreamingCallTest, BidiSendsEachDocumentAndPrintsEachAnswer) {
  auto channel = EchoStreamPeer();
  const CallResult result = Call(*channel, "dualrpc.v1.FileService/EchoStream",
                                 R"({"payload":"YQ=="}{"payload":"Yg=="}
              {"payload":"Yw=="})");
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(result.out,
            Printed(EchoOf("a")) + Printed(EchoOf("b")) + Printed(EchoOf("c")));
  const std::vector<RecordedStream> streams = channel->recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kBidiStreaming);
  EXPECT_THAT(streams[0].requests, SizeIs(3));
  EXPECT_TRUE(streams[0].half_closed);
}

TEST(StreamingCallTest, ClientStreamingPrintsTheOneResponse) {
  test::v1::AddItemsResponse summary;
  summary.add_items()->set_quantity(5);
  auto channel =
      std::make_shared<ScriptedStreamChannel>([summary](absl::string_view) {
        StreamScript script;
        script.at_end = {summary.SerializeAsString()};
        return script;
      });
  const CallResult result = Call(
      *channel, "dualrpc.test.v1.Inventory/RestockItems",
      R"({"key":{"sku":"a"},"quantity":2} {"key":{"sku":"b"},"quantity":3})");
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(result.out, Printed(summary));
  const std::vector<RecordedStream> streams = channel->recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kClientStreaming);
  ASSERT_THAT(streams[0].requests, SizeIs(2));
  test::v1::AddItemsRequest::Line line;
  ASSERT_TRUE(line.ParseFromString(streams[0].requests[1]));
  EXPECT_EQ(line.key().sku(), "b");
  EXPECT_EQ(line.quantity(), 3);
  EXPECT_TRUE(streams[0].half_closed);
}

TEST(StreamingCallTest, BadRequestDocumentCancelsTheCallAndIsALocalError) {
  auto channel = EchoStreamPeer();
  const CallResult result = Call(*channel, "dualrpc.v1.FileService/EchoStream",
                                 R"({"payload":"YQ=="} {"nope": 1})");
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("dualrpc.v1.EchoRequest")));
  EXPECT_EQ(ExitStatusFor(result.status), kExitLocalError);
  const std::vector<RecordedStream> streams = channel->recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_THAT(streams[0].requests, SizeIs(1));
  EXPECT_TRUE(streams[0].cancelled);
  EXPECT_FALSE(streams[0].half_closed);
}

TEST(StreamingCallTest, FailedStreamReturnsItsStatusAfterTheResponses) {
  auto channel = EchoStreamPeer(absl::ResourceExhaustedError("too many"));
  const CallResult result = Call(*channel, "dualrpc.v1.FileService/EchoStream",
                                 R"({"payload":"YQ=="})");
  EXPECT_THAT(result.status,
              StatusIs(absl::StatusCode::kResourceExhausted, "too many"));
  EXPECT_EQ(result.out, Printed(EchoOf("a")));
}

TEST(StreamingCallTest, VerboseShowsMetadataAndCounts) {
  auto channel = EchoStreamPeer();
  const CallResult result =
      Call(*channel, "dualrpc.v1.FileService/EchoStream",
           R"({"payload":"YQ=="} {"payload":"Yg=="})", /*verbose=*/true);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_THAT(result.out,
              HasSubstr("\nResolved method descriptor:\nrpc "
                        "EchoStream(stream .dualrpc.v1.EchoRequest)"));
  EXPECT_THAT(result.out,
              HasSubstr("\nResponse contents:\n" + Printed(EchoOf("a")) +
                        "\nResponse contents:\n" + Printed(EchoOf("b"))));
  EXPECT_THAT(result.out, HasSubstr("\nResponse headers received:\nh: 1\n"));
  EXPECT_THAT(result.out, HasSubstr("\nResponse trailers received:\nt: 2\n"));
  EXPECT_THAT(result.out,
              HasSubstr("Sent 2 requests and received 2 responses\n"));
}

// Standard input that hands out what the test feeds it, blocking until then
// (at most kWaitTimeout, then end of input): an interactive terminal.
class FedStreambuf final : public std::streambuf {
 public:
  void Feed(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.push_back(std::move(text));
    fed_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    fed_.notify_all();
  }

 protected:
  int_type underflow() override {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ready = fed_.wait_for(
        lock, absl::ToChronoSeconds(dualrpc_testing::kWaitTimeout),
        [this] { return closed_ || !chunks_.empty(); });
    if (!ready || chunks_.empty()) return traits_type::eof();
    current_ = std::move(chunks_.front());
    chunks_.pop_front();
    setg(current_.data(), current_.data(), current_.data() + current_.size());
    return traits_type::to_int_type(current_[0]);
  }

 private:
  std::mutex mu_;
  std::condition_variable fed_;
  std::deque<std::string> chunks_;
  bool closed_ = false;
  std::string current_;
};

TEST(StreamingCallTest, BidiSendsEachRequestAsSoonAsItIsRead) {
  auto channel = EchoStreamPeer();
  FedStreambuf input;
  std::istream in(&input);
  CallResult result;
  std::thread cli([&] {
    result = Call(*channel, "dualrpc.v1.FileService/EchoStream", in);
  });
  input.Feed(R"({"payload":"YQ=="})");
  // The first request reaches the server while the input is still open.
  const bool first_sent = dualrpc_testing::Eventually([&] {
    const std::vector<RecordedStream> streams = channel->recorded();
    return !streams.empty() && streams[0].requests.size() == 1;
  });
  input.Feed(R"( {"payload":"Yg=="})");
  input.Close();
  cli.join();
  EXPECT_TRUE(first_sent);
  ASSERT_THAT(result.status, IsOk());
  EXPECT_EQ(result.out, Printed(EchoOf("a")) + Printed(EchoOf("b")));
}

// ---- reflection over one stream ------------------------------------------

using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;

class ReflectionStreamTest : public ::testing::Test {
 protected:
  ReflectionStreamTest() : reflection_service_(&registry_) {
    EXPECT_THAT(reflection_service_.Register(&registry_), IsOk());
  }

  // The real ReflectionService's answer to one serialized request.
  std::string Answer(const std::string& bytes) {
    ServerReflectionRequest request;
    request.ParseFromString(bytes);
    return reflection_service_.Answer(request).SerializeAsString();
  }

  // A script that answers on the stream paths in `serving` and ends the
  // others with UNIMPLEMENTED after their first request.
  std::function<StreamScript(absl::string_view)> Serving(
      std::vector<std::string> serving) {
    return [this, serving](absl::string_view method) {
      StreamScript script;
      if (std::find(serving.begin(), serving.end(), method) == serving.end()) {
        script.status = absl::UnimplementedError(method);
        script.end_after_requests = 1;
        return script;
      }
      script.on_request = [this](const std::string& bytes) {
        return std::vector<std::string>{Answer(bytes)};
      };
      return script;
    };
  }

  rpc::ServiceRegistry registry_;
  inspection::ReflectionService reflection_service_;
};

TEST_F(ReflectionStreamTest, AsksEveryQuestionOnOneV1Stream) {
  ScriptedStreamChannel channel(Serving({kServerReflectionV1InfoPath}));
  {
    ReflectionClient reflection(&channel, absl::Seconds(5));
    // The registry holds ReflectionService's two versions.
    EXPECT_THAT(reflection.ListServices(),
                dualrpc_testing::IsOkAndHolds(
                    ElementsAre("grpc.reflection.v1.ServerReflection",
                                "grpc.reflection.v1alpha.ServerReflection")));
    EXPECT_THAT(
        reflection.LoadSymbol("grpc.reflection.v1alpha.ServerReflection"),
        IsOk());
    EXPECT_THAT(reflection.LoadSymbol("google.protobuf.FileDescriptorProto"),
                IsOk());
    EXPECT_EQ(reflection.method_path(), kServerReflectionV1InfoPath);
    EXPECT_FALSE(reflection.unary_form());
  }
  const std::vector<RecordedStream> streams = channel.recorded();
  ASSERT_THAT(streams, SizeIs(1));
  EXPECT_EQ(streams[0].method, kServerReflectionV1InfoPath);
  EXPECT_EQ(streams[0].kind, rpc::MethodKind::kBidiStreaming);
  EXPECT_EQ(streams[0].options.timeout, absl::Seconds(5));
  EXPECT_GE(streams[0].requests.size(), 2u);
}

TEST_F(ReflectionStreamTest, FallsBackToV1AlphaWhenV1IsUnimplemented) {
  ScriptedStreamChannel channel(Serving({kServerReflectionInfoPath}));
  {
    ReflectionClient reflection(&channel, absl::Seconds(5));
    EXPECT_THAT(reflection.ListServices(), IsOk());
    EXPECT_THAT(
        reflection.LoadSymbol("grpc.reflection.v1alpha.ServerReflection"),
        IsOk());
    EXPECT_EQ(reflection.method_path(), kServerReflectionInfoPath);
    EXPECT_FALSE(reflection.unary_form());
  }
  const std::vector<RecordedStream> streams = channel.recorded();
  ASSERT_THAT(streams, SizeIs(2));
  EXPECT_EQ(streams[0].method, kServerReflectionV1InfoPath);
  EXPECT_EQ(streams[1].method, kServerReflectionInfoPath);
  EXPECT_GE(streams[1].requests.size(), 2u);
}

TEST_F(ReflectionStreamTest, OtherFailuresDoNotFallBack) {
  ScriptedStreamChannel channel([](absl::string_view) {
    StreamScript script;
    script.status = absl::PermissionDeniedError("no reflection for you");
    script.end_after_requests = 1;
    return script;
  });
  ReflectionClient reflection(&channel, absl::Seconds(5));
  EXPECT_THAT(reflection.ListServices(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(channel.recorded(), SizeIs(1));
  EXPECT_TRUE(reflection.method_path().empty());
}

TEST_F(ReflectionStreamTest, WithoutStreamsAsksInTheUnaryForm) {
  ScriptedStreamChannel channel(Serving({}));
  std::vector<std::string> unary_paths;
  channel.unary = [&](absl::string_view path,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions&, rpc::UnaryDone done) {
    unary_paths.emplace_back(path);
    if (path != kServerReflectionInfoPath) {
      std::move(done)(absl::UnimplementedError(path));
      return;
    }
    response->ParseFromString(Answer(request.SerializeAsString()));
    std::move(done)(absl::OkStatus());
  };
  ReflectionClient reflection(&channel, absl::Seconds(5));
  EXPECT_THAT(reflection.ListServices(), IsOk());
  EXPECT_THAT(reflection.LoadSymbol("grpc.reflection.v1alpha.ServerReflection"),
              IsOk());
  EXPECT_EQ(reflection.method_path(), kServerReflectionInfoPath);
  EXPECT_TRUE(reflection.unary_form());
  EXPECT_THAT(unary_paths, ElementsAre(kServerReflectionV1InfoPath,
                                       kServerReflectionInfoPath,
                                       kServerReflectionInfoPath));
  EXPECT_THAT(channel.recorded(), SizeIs(2));
}

}  // namespace
}  // namespace dualrpc::cli
