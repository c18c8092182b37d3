// list, describe and call against the real ReflectionService and
// HealthService, served in-process through a Channel that calls a
// ServiceRegistry directly (serializing both ways, as a transport does).
// What the transports add is covered by tests/integration/inspection_test.

#include "dualrpc/cli/inspect_commands.h"

#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/cli/reflection_client.h"
#include "dualrpc/inspection/health_service.h"
#include "dualrpc/inspection/reflection_service.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.pb.h"
#include "gtest/gtest.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.pb.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/unary_method.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

class RegistryChannel final : public rpc::Channel {
 public:
  explicit RegistryChannel(const rpc::ServiceRegistry* registry)
      : registry_(registry) {}

  rpc::ClientStream* NewStream(absl::string_view, rpc::MethodKind,
                               const rpc::CallOptions&,
                               rpc::ClientStreamReactor* reactor) override {
    return rpc::NewFailedStream(
        reactor, absl::UnimplementedError("this fake has no streaming calls"));
  }
  void StartUnaryCall(absl::string_view path,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const ::dualrpc::rpc::CallOptions& options,
                      rpc::UnaryDone done) override {
    paths_.emplace_back(path);
    // As a transport hands back what the server added, whatever the status.
    if (options.response_metadata != nullptr) {
      options.response_metadata->emplace_back("served-by", "registry");
      options.response_metadata->emplace_back("trace-bin",
                                              std::string("\x00\xff", 2));
    }
    const rpc::Method* method = registry_->FindMethod(path);
    if (method == nullptr) {
      std::move(done)(absl::UnimplementedError(absl::StrCat(path)));
      return;
    }
    std::unique_ptr<google::protobuf::Message> in = method->new_request();
    if (!in->ParseFromString(request.SerializeAsString())) {
      std::move(done)(absl::InternalError("unparseable request"));
      return;
    }
    std::unique_ptr<google::protobuf::Message> out = method->new_response();
    absl::Status status = absl::UnknownError("done never ran");
    // Every method served here completes inline.
    method->invoke(nullptr, in.get(), out.get(),
                   [&status](absl::Status result) { status = result; });
    if (status.ok() && !response->ParseFromString(out->SerializeAsString())) {
      status = absl::InternalError("unparseable response");
    }
    std::move(done)(std::move(status));
  }

  const std::vector<std::string>& paths() const { return paths_; }

 private:
  const rpc::ServiceRegistry* const registry_;
  std::vector<std::string> paths_;
};

struct FakeFileService {
  void Echo(rpc::ServerCallContext*, const v1::EchoRequest* request,
            v1::EchoResponse* response, rpc::UnaryDone done) {
    if (request->payload() == "deny") {
      std::move(done)(absl::PermissionDeniedError("denied"));
      return;
    }
    response->set_payload(request->payload());
    std::move(done)(absl::OkStatus());
  }
};

class InspectCommandsTest : public ::testing::Test {
 protected:
  InspectCommandsTest()
      : health_({"dualrpc.v1.FileService"}),
        reflection_service_(&registry_),
        channel_(&registry_),
        reflection_(&channel_, absl::Seconds(5)) {
    EXPECT_THAT(registry_.AddMethod(rpc::MakeUnaryMethod(
                    "/dualrpc.v1.FileService/Echo", &file_service_,
                    &FakeFileService::Echo)),
                IsOk());
    EXPECT_THAT(health_.Register(&registry_), IsOk());
  }

  // The usual reflection service, in the unary form a raw 1.0 server gives
  // (PROTOCOL.md §7.1): this fake channel opens no streams, so the client
  // falls back to it. Tests may register another instead.
  void RegisterReflection() {
    EXPECT_THAT(
        registry_.AddMethod(dualrpc_testing::UnaryMethodFrom<
                            ServerReflectionRequest, ServerReflectionResponse>(
            inspection::ReflectionService::kInfoPath,
            [this](rpc::ServerCallContext*,
                   const ServerReflectionRequest& request,
                   ServerReflectionResponse* response, rpc::UnaryDone done) {
              *response = reflection_service_.Answer(request);
              std::move(done)(absl::OkStatus());
            })),
        IsOk());
  }

  absl::Status Call(absl::string_view method, const std::string& json,
                    std::string* out, CallCommandOptions options = {}) {
    std::ostringstream stream;
    options.timeout = absl::Seconds(5);
    absl::Status status =
        RunCall(channel_, reflection_, method, json, options, stream);
    *out = stream.str();
    return status;
  }

  absl::Status Describe(const std::optional<std::string>& symbol,
                        std::string* out, DescribeOptions options = {}) {
    std::ostringstream stream;
    absl::Status status = RunDescribe(reflection_, symbol, options, stream);
    *out = stream.str();
    return status;
  }

  FakeFileService file_service_;
  rpc::ServiceRegistry registry_;
  inspection::HealthService health_;
  inspection::ReflectionService reflection_service_;
  RegistryChannel channel_;
  ReflectionClient reflection_;
};

TEST_F(InspectCommandsTest, ListPrintsSortedServices) {
  RegisterReflection();
  std::ostringstream out;
  ASSERT_THAT(RunList(reflection_, std::nullopt, out), IsOk());
  EXPECT_EQ(out.str(),
            "dualrpc.v1.FileService\ngrpc.health.v1.Health\n"
            "grpc.reflection.v1alpha.ServerReflection\n");
  // v1 first; this server has only v1alpha.
  EXPECT_THAT(channel_.paths(), ElementsAre(kServerReflectionV1InfoPath,
                                            kServerReflectionInfoPath));
  EXPECT_EQ(reflection_.method_path(), kServerReflectionInfoPath);
}

TEST_F(InspectCommandsTest, DescribesServiceMethodMessageAndEnum) {
  RegisterReflection();
  std::string out;
  ASSERT_THAT(Describe("dualrpc.v1.FileService", &out), IsOk());
  EXPECT_EQ(out,
            "dualrpc.v1.FileService is a service:\n"
            "service FileService {\n"
            "  rpc Echo(.dualrpc.v1.EchoRequest) returns "
            "(.dualrpc.v1.EchoResponse);\n"
            "  rpc ListDirectory(.dualrpc.v1.ListDirectoryRequest) returns "
            "(.dualrpc.v1.ListDirectoryResponse);\n"
            "  rpc WalkTree(.dualrpc.v1.WalkTreeRequest) returns "
            "(stream .dualrpc.v1.WalkTreeResponse);\n"
            "  rpc EchoStream(stream .dualrpc.v1.EchoRequest) returns "
            "(stream .dualrpc.v1.EchoResponse);\n"
            "}\n");
  for (const std::string method :
       {"dualrpc.v1.FileService.Echo", "dualrpc.v1.FileService/Echo",
        "/dualrpc.v1.FileService/Echo"}) {
    ASSERT_THAT(Describe(method, &out), IsOk()) << method;
    EXPECT_EQ(out,
              "dualrpc.v1.FileService.Echo is a method:\n"
              "rpc Echo(.dualrpc.v1.EchoRequest) returns "
              "(.dualrpc.v1.EchoResponse);\n");
  }
  ASSERT_THAT(Describe(".dualrpc.v1.ListDirectoryRequest", &out), IsOk());
  EXPECT_THAT(out, HasSubstr("dualrpc.v1.ListDirectoryRequest is a message:\n"
                             "message ListDirectoryRequest {\n"
                             "  string path = 1;\n"));
  ASSERT_THAT(Describe("dualrpc.v1.DirectoryEntry.Type", &out), IsOk());
  EXPECT_THAT(out, HasSubstr("is an enum:\nenum Type {"));
}

// The file was fetched once, for the first symbol (after v1 was found
// missing, once); the rest were found in the descriptors already received.
TEST_F(InspectCommandsTest, FetchesEachFileOnce) {
  RegisterReflection();
  std::string out;
  ASSERT_THAT(Describe("dualrpc.v1.FileService", &out), IsOk());
  ASSERT_THAT(Describe("dualrpc.v1.EchoRequest", &out), IsOk());
  ASSERT_THAT(Describe("google.protobuf.Timestamp", &out), IsOk());
  EXPECT_THAT(channel_.paths(), ElementsAre(kServerReflectionV1InfoPath,
                                            kServerReflectionInfoPath));
}

TEST_F(InspectCommandsTest, DescribeWithoutSymbolDescribesEveryService) {
  RegisterReflection();
  std::string out;
  ASSERT_THAT(Describe(std::nullopt, &out), IsOk());
  EXPECT_THAT(out, HasSubstr("dualrpc.v1.FileService is a service:\n"));
  EXPECT_THAT(out, HasSubstr("}\n\ngrpc.health.v1.Health is a service:\n"));
  EXPECT_THAT(out, HasSubstr("rpc Watch(.grpc.health.v1.HealthCheckRequest) "
                             "returns (stream "));
  EXPECT_THAT(out, HasSubstr("grpc.reflection.v1alpha.ServerReflection is a "
                             "service:\n"));
}

TEST_F(InspectCommandsTest, UnknownSymbolIsNotFoundWithNoOutput) {
  RegisterReflection();
  std::string out;
  absl::Status status = Describe("dualrpc.v1.Nope", &out);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status.message(),
            "cannot resolve \"dualrpc.v1.Nope\": Symbol not found.");
  EXPECT_THAT(out, IsEmpty());
}

// The generated pool (here as in grpc++'s reflection) knows a package name
// only once a file of that package has been built, hence the descriptor()
// call.
TEST_F(InspectCommandsTest, PackageIsNotDescribable) {
  RegisterReflection();
  v1::EchoRequest::descriptor();
  std::string out;
  EXPECT_THAT(Describe("dualrpc.v1", &out),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(out, IsEmpty());
}

TEST_F(InspectCommandsTest, CallsWithJsonInAndOut) {
  RegisterReflection();
  std::string out;
  for (const std::string method :
       {"dualrpc.v1.FileService/Echo", "/dualrpc.v1.FileService/Echo",
        "dualrpc.v1.FileService.Echo"}) {
    ASSERT_THAT(Call(method, R"({"payload":"aGk="})", &out), IsOk()) << method;
    EXPECT_EQ(out, "{\n  \"payload\": \"aGk=\"\n}\n");
  }
  ASSERT_THAT(Call("grpc.health.v1.Health/Check", "{}", &out), IsOk());
  EXPECT_EQ(out, "{\n  \"status\": \"SERVING\"\n}\n");
}

TEST_F(InspectCommandsTest, ListWithServicePrintsQualifiedMethods) {
  RegisterReflection();
  for (const std::string service :
       {"dualrpc.v1.FileService", ".dualrpc.v1.FileService"}) {
    std::ostringstream out;
    ASSERT_THAT(RunList(reflection_, service, out), IsOk());
    EXPECT_EQ(out.str(),
              "dualrpc.v1.FileService.Echo\n"
              "dualrpc.v1.FileService.ListDirectory\n"
              "dualrpc.v1.FileService.WalkTree\n"
              "dualrpc.v1.FileService.EchoStream\n");
  }
  std::ostringstream out;
  EXPECT_THAT(RunList(reflection_, "dualrpc.v1.EchoRequest", out),
              StatusIs(absl::StatusCode::kNotFound,
                       "\"dualrpc.v1.EchoRequest\" is not a service"));
  EXPECT_THAT(RunList(reflection_, "dualrpc.v1.Nope", out),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST_F(InspectCommandsTest, CallPrintsTextFormatAndDefaults) {
  RegisterReflection();
  std::string out;
  CallCommandOptions options;
  options.print.format = MessageFormat::kText;
  ASSERT_THAT(Call("dualrpc.v1.FileService/Echo", R"({"payload":"aGk="})", &out,
                   options),
              IsOk());
  EXPECT_EQ(out, "payload: \"hi\"\n");

  options = {};
  ASSERT_THAT(Call("dualrpc.v1.FileService/Echo", "{}", &out, options), IsOk());
  EXPECT_EQ(out, "{}\n");
  options.print.emit_defaults = true;
  ASSERT_THAT(Call("dualrpc.v1.FileService/Echo", "{}", &out, options), IsOk());
  EXPECT_EQ(out, "{\n  \"payload\": \"\"\n}\n");
}

TEST_F(InspectCommandsTest, VerboseCallPrintsGrpcurlBlocksAndMetadata) {
  RegisterReflection();
  std::string out;
  CallCommandOptions options;
  options.verbose = true;
  ASSERT_THAT(Call("dualrpc.v1.FileService/Echo", R"({"payload":"aGk="})", &out,
                   options),
              IsOk());
  EXPECT_EQ(out,
            "\nResolved method descriptor:\n"
            "rpc Echo(.dualrpc.v1.EchoRequest) returns "
            "(.dualrpc.v1.EchoResponse);\n"
            "\nResponse headers received:\n"
            "(empty)\n"
            "\nResponse contents:\n"
            "{\n  \"payload\": \"aGk=\"\n}\n"
            "\nResponse trailers received:\n"
            "served-by: registry\n"
            "trace-bin: AP8=\n"
            "Sent 1 request and received 1 response\n");

  EXPECT_THAT(Call("dualrpc.v1.FileService/Echo", R"({"payload":"ZGVueQ=="})",
                   &out, options),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(out, Not(HasSubstr("Response contents:")));
  EXPECT_THAT(out, HasSubstr("\nResponse trailers received:\n"
                             "served-by: registry\n"));
  EXPECT_THAT(out, EndsWith("Sent 1 request and received 0 responses\n"));
}

TEST_F(InspectCommandsTest, DescribeMsgTemplateFillsOneLevel) {
  RegisterReflection();
  std::string out;
  ASSERT_THAT(Describe("dualrpc.v1.ListDirectoryResponse", &out, {true}),
              IsOk());
  EXPECT_THAT(out, StartsWith("dualrpc.v1.ListDirectoryResponse is a "
                              "message:\nmessage ListDirectoryResponse {\n"));
  EXPECT_THAT(out, EndsWith("}\n\nMessage template:\n"
                            "{\n"
                            "  \"entries\": [\n"
                            "    {\n"
                            "      \"name\": \"\",\n"
                            "      \"type\": \"TYPE_UNSPECIFIED\",\n"
                            "      \"sizeBytes\": \"0\",\n"
                            "      \"mode\": 0,\n"
                            "      \"symlinkTarget\": \"\",\n"
                            "      \"rawName\": \"\",\n"
                            "      \"rawSymlinkTarget\": \"\",\n"
                            "      \"modifyTime\": \"1970-01-01T00:00:00Z\"\n"
                            "    }\n"
                            "  ],\n"
                            "  \"nextPageToken\": \"\"\n"
                            "}\n"));
  // Only messages get a template.
  ASSERT_THAT(Describe("dualrpc.v1.FileService", &out, {true}), IsOk());
  EXPECT_THAT(out, Not(HasSubstr("Message template:")));
  ASSERT_THAT(Describe("dualrpc.v1.ListDirectoryResponse", &out), IsOk());
  EXPECT_THAT(out, Not(HasSubstr("Message template:")));
}

TEST_F(InspectCommandsTest, CallFailuresCarryTheirCodes) {
  RegisterReflection();
  std::string out;
  absl::Status status =
      Call("dualrpc.v1.FileService/Echo", R"({"payload":"ZGVueQ=="})", &out);
  EXPECT_EQ(status, absl::PermissionDeniedError("denied"));
  EXPECT_THAT(Call("dualrpc.v1.FileService/Echo", R"({"bogus":1})", &out),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Call("dualrpc.v1.FileService/Nope", "{}", &out),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Call("dualrpc.v1.Nope/Echo", "{}", &out),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Call("Echo", "{}", &out),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Call("grpc.health.v1.Health/Watch", "{}", &out),
              StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(out, IsEmpty());
}

TEST_F(InspectCommandsTest, ServerWithoutReflectionIsUnimplemented) {
  std::ostringstream out;
  EXPECT_THAT(RunList(reflection_, std::nullopt, out),
              StatusIs(absl::StatusCode::kUnimplemented));
}

// A server may send a file without its imports; the client asks for the
// missing ones by name.
TEST_F(InspectCommandsTest, FetchesImportsTheServerLeftOut) {
  struct FirstFileOnly {
    inspection::ReflectionService* full;
    void Info(rpc::ServerCallContext*, const ServerReflectionRequest* request,
              ServerReflectionResponse* response, rpc::UnaryDone done) {
      *response = full->Answer(*request);
      auto* files = response->mutable_file_descriptor_response()
                        ->mutable_file_descriptor_proto();
      if (files->size() > 1) files->DeleteSubrange(1, files->size() - 1);
      std::move(done)(absl::OkStatus());
    }
  } first_file_only{&reflection_service_};
  ASSERT_THAT(registry_.AddMethod(
                  rpc::MakeUnaryMethod(inspection::ReflectionService::kInfoPath,
                                       &first_file_only, &FirstFileOnly::Info)),
              IsOk());
  std::string out;
  ASSERT_THAT(Describe("dualrpc.v1.DirectoryEntry", &out), IsOk()) << out;
  EXPECT_THAT(out, HasSubstr(".google.protobuf.Timestamp modify_time"));
  // v1 tried once; then the file and its import on v1alpha.
  EXPECT_THAT(channel_.paths(), ElementsAre(kServerReflectionV1InfoPath,
                                            kServerReflectionInfoPath,
                                            kServerReflectionInfoPath));
}

// A server with grpc.reflection.v1 only (like grpc-js with @grpc/reflection
// told so): the v1alpha service from inspection::ReflectionService, served
// on the v1 path through v1's own message types.
struct V1OnlyReflection {
  inspection::ReflectionService* v1alpha;
  void Info(rpc::ServerCallContext*,
            const ::grpc::reflection::v1::ServerReflectionRequest* request,
            ::grpc::reflection::v1::ServerReflectionResponse* response,
            rpc::UnaryDone done) {
    ServerReflectionRequest v1alpha_request;
    ASSERT_TRUE(v1alpha_request.ParseFromString(request->SerializeAsString()));
    ASSERT_TRUE(response->ParseFromString(
        v1alpha->Answer(v1alpha_request).SerializeAsString()));
    std::move(done)(absl::OkStatus());
  }
};

TEST_F(InspectCommandsTest, UsesV1AloneWhenTheServerHasIt) {
  V1OnlyReflection v1_only{&reflection_service_};
  ASSERT_THAT(
      registry_.AddMethod(rpc::MakeUnaryMethod(
          kServerReflectionV1InfoPath, &v1_only, &V1OnlyReflection::Info)),
      IsOk());
  std::ostringstream listed;
  ASSERT_THAT(RunList(reflection_, std::nullopt, listed), IsOk());
  EXPECT_THAT(listed.str(), HasSubstr("dualrpc.v1.FileService\n"));
  std::string out;
  ASSERT_THAT(
      Call("dualrpc.v1.FileService/Echo", R"({"payload":"aGk="})", &out),
      IsOk());
  EXPECT_EQ(out, "{\n  \"payload\": \"aGk=\"\n}\n");
  EXPECT_THAT(channel_.paths(), ElementsAre(kServerReflectionV1InfoPath,
                                            kServerReflectionV1InfoPath,
                                            "/dualrpc.v1.FileService/Echo"));
  EXPECT_EQ(reflection_.method_path(), kServerReflectionV1InfoPath);
}

// Only "no such method" means "try v1alpha": another failure of the v1
// call is the answer, and settles no version.
TEST_F(InspectCommandsTest, OtherV1FailuresDoNotFallBack) {
  RegisterReflection();
  struct Unavailable {
    void Info(rpc::ServerCallContext*,
              const ::grpc::reflection::v1::ServerReflectionRequest*,
              ::grpc::reflection::v1::ServerReflectionResponse*,
              rpc::UnaryDone done) {
      std::move(done)(absl::UnavailableError("overloaded"));
    }
  } unavailable;
  ASSERT_THAT(
      registry_.AddMethod(rpc::MakeUnaryMethod(
          kServerReflectionV1InfoPath, &unavailable, &Unavailable::Info)),
      IsOk());
  std::ostringstream out;
  EXPECT_THAT(RunList(reflection_, std::nullopt, out),
              StatusIs(absl::StatusCode::kUnavailable, "overloaded"));
  EXPECT_THAT(channel_.paths(), ElementsAre(kServerReflectionV1InfoPath));
  EXPECT_THAT(reflection_.method_path(), IsEmpty());
}

// The client converts between v1 and v1alpha messages by their bytes: that
// holds only while the two files define the same messages, field for field.
// Both are in the generated pool of this process (v1alpha from
// libgrpc++_reflection, v1 from dualrpc::reflection_v1_proto), side by side.
TEST(ReflectionVersionsTest, V1AndV1alphaMessagesAreTheSame) {
  const google::protobuf::FileDescriptor* v1alpha =
      ServerReflectionRequest::descriptor()->file();
  const google::protobuf::FileDescriptor* v1 =
      ::grpc::reflection::v1::ServerReflectionRequest::descriptor()->file();
  ASSERT_NE(v1, v1alpha);
  ASSERT_EQ(v1->message_type_count(), v1alpha->message_type_count());
  for (int i = 0; i < v1->message_type_count(); ++i) {
    google::protobuf::DescriptorProto v1_message;
    google::protobuf::DescriptorProto v1alpha_message;
    v1->message_type(i)->CopyTo(&v1_message);
    v1alpha->message_type(i)->CopyTo(&v1alpha_message);
    // Type names differ by package only.
    std::string v1_text = absl::StrReplaceAll(v1_message.DebugString(),
                                              {{".grpc.reflection.v1.", "."}});
    std::string v1alpha_text = absl::StrReplaceAll(
        v1alpha_message.DebugString(), {{".grpc.reflection.v1alpha.", "."}});
    EXPECT_EQ(v1_text, v1alpha_text) << v1_message.name();
  }
}

TEST(ReadRequestJsonTest, DefaultsLiteralsStdinAndFiles) {
  std::istringstream unused;
  EXPECT_EQ(*ReadRequestJson("", unused), "{}");
  EXPECT_EQ(*ReadRequestJson(R"({"a":1})", unused), R"({"a":1})");
  for (const std::string stdin_flag : {"@", "@-"}) {
    std::istringstream in(R"({"path":"docs"})");
    EXPECT_EQ(*ReadRequestJson(stdin_flag, in), R"({"path":"docs"})");
  }
  dualrpc_testing::TempDir dir;
  dir.WriteFile("request.json", R"({"payload":"aGk="})");
  EXPECT_EQ(*ReadRequestJson("@" + dir.HostPath("request.json"), unused),
            R"({"payload":"aGk="})");
  EXPECT_THAT(ReadRequestJson("@" + dir.HostPath("missing.json"), unused),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// `health` and `call` of Health/Check, judged as grpc_health_probe judges
// the answer: exit 0 only for SERVING, 4 for an answer that is not.
TEST_F(InspectCommandsTest, HealthIsOkOnlyWhileServing) {
  for (const std::string service : {"", "dualrpc.v1.FileService"}) {
    std::ostringstream out;
    HealthOptions options;
    options.service = service;
    EXPECT_THAT(RunHealth(channel_, options, out), IsOk()) << service;
    EXPECT_EQ(out.str(), "SERVING\n");
  }
  health_.SetNotServing();
  std::ostringstream out;
  const absl::Status whole = RunHealth(channel_, {}, out);
  EXPECT_THAT(whole, StatusIs(absl::StatusCode::kUnavailable,
                              "health: the server is NOT_SERVING"));
  EXPECT_TRUE(IsNotServing(whole));
  EXPECT_EQ(ExitStatusFor(whole), kExitNotServing);
  EXPECT_EQ(out.str(), "NOT_SERVING\n");

  HealthOptions options;
  options.service = "dualrpc.v1.FileService";
  const absl::Status one = RunHealth(channel_, options, out);
  EXPECT_THAT(one, StatusIs(absl::StatusCode::kUnavailable,
                            "health: service \"dualrpc.v1.FileService\" is "
                            "NOT_SERVING"));
  EXPECT_EQ(ExitStatusFor(one), 4);
}

TEST_F(InspectCommandsTest, HealthOfAnUnknownServiceIsTheCallsFailure) {
  std::ostringstream out;
  HealthOptions options;
  options.service = "no.such.Service";
  const absl::Status status = RunHealth(channel_, options, out);
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kNotFound, "service name unknown"));
  EXPECT_FALSE(IsNotServing(status));
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST(ServingStatusResultTest, OnlyServingIsOk) {
  EXPECT_THAT(ServingStatusResult(1, ""), IsOk());
  for (int status : {0, 2, 3, 17}) {
    const absl::Status result = ServingStatusResult(status, "svc");
    EXPECT_TRUE(IsNotServing(result)) << status;
    EXPECT_EQ(ExitStatusFor(result), kExitNotServing) << status;
  }
  EXPECT_THAT(ServingStatusResult(3, "svc"),
              StatusIs(absl::StatusCode::kUnavailable,
                       "health: service \"svc\" is SERVICE_UNKNOWN"));
  EXPECT_THAT(ServingStatusResult(17, ""),
              StatusIs(absl::StatusCode::kUnavailable,
                       "health: the server is 17"));
}

TEST_F(InspectCommandsTest, CallOfHealthCheckFailsUnlessServing) {
  RegisterReflection();
  std::string out;
  ASSERT_THAT(Call("grpc.health.v1.Health/Check", "{}", &out), IsOk());
  health_.SetNotServing();
  for (bool verbose : {false, true}) {
    CallCommandOptions options;
    options.verbose = verbose;
    const absl::Status status = Call("grpc.health.v1.Health/Check",
                                     R"({"service":"dualrpc.v1.FileService"})",
                                     &out, options);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("NOT_SERVING")))
        << verbose;
    EXPECT_EQ(ExitStatusFor(status), kExitNotServing);
    // The answer is still printed.
    EXPECT_THAT(out, HasSubstr("\"status\": \"NOT_SERVING\""));
  }
  // Only Health/Check is judged: other methods succeed as before.
  ASSERT_THAT(Call("dualrpc.v1.FileService/Echo", "{}", &out), IsOk());
}

}  // namespace
}  // namespace dualrpc::cli
