#include "dualrpc/inspection/reflection_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/inspection/health_service.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"

namespace dualrpc::inspection {
namespace {

using ::dualrpc_testing::IsOk;

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptorProto;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::ElementsAre;

// Stands in for the application: only its method path matters here.
struct FakeFileService {
  void Echo(rpc::ServerCallContext*, const v1::EchoRequest*, v1::EchoResponse*,
            rpc::UnaryDone done) {
    std::move(done)(absl::OkStatus());
  }
};

std::vector<std::string> FileNames(const ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const std::string& serialized :
       response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(serialized));
    names.push_back(file.name());
  }
  return names;
}

class ReflectionServiceTest : public ::testing::Test {
 protected:
  ReflectionServiceTest() : health_({}), reflection_(&registry_) {
    EXPECT_THAT(registry_.AddMethod(rpc::MakeUnaryMethod(
                    "/dualrpc.v1.FileService/Echo", &file_service_,
                    &FakeFileService::Echo)),
                IsOk());
    EXPECT_THAT(health_.Register(&registry_), IsOk());
    EXPECT_THAT(reflection_.Register(&registry_), IsOk());
  }

  // The answers to `requests`, sent on one stream of the method at `path`
  // (v1alpha's or v1's, whose messages have the same fields), as a
  // transport drives it; the call must end OK.
  std::vector<std::string> Exchange(
      const std::string& path,
      const std::vector<ServerReflectionRequest>& requests) {
    const rpc::Method* method = registry_.FindMethod(path);
    EXPECT_NE(method, nullptr);
    if (method == nullptr) return {};
    EXPECT_EQ(method->kind, rpc::MethodKind::kBidiStreaming);
    dualrpc_testing::FakeServerStream stream;
    stream.Start(*method);
    for (const ServerReflectionRequest& request : requests) {
      std::unique_ptr<google::protobuf::Message> in = method->new_request();
      EXPECT_TRUE(in->ParseFromString(request.SerializeAsString()));
      stream.PushRequest(*in);
    }
    stream.CloseRequests();
    EXPECT_TRUE(stream.WaitForDone());
    EXPECT_THAT(stream.status(), IsOk());
    EXPECT_THAT(stream.misuses(), ::testing::IsEmpty());
    std::vector<std::string> answers;
    // The fake keeps what was written as bytes; parse with the v1alpha type
    // (same fields) so that both versions compare alike.
    for (const ServerReflectionResponse& response :
         stream.Writes<ServerReflectionResponse>()) {
      answers.push_back(response.SerializeAsString());
    }
    return answers;
  }

  // One request, alone on a v1alpha stream.
  ServerReflectionResponse Call(const ServerReflectionRequest& request) {
    std::vector<std::string> answers =
        Exchange(ReflectionService::kInfoPath, {request});
    EXPECT_EQ(answers.size(), 1u);
    ServerReflectionResponse response;
    if (!answers.empty()) {
      EXPECT_TRUE(response.ParseFromString(answers[0]));
    }
    return response;
  }

  FakeFileService file_service_;
  rpc::ServiceRegistry registry_;
  HealthService health_;
  ReflectionService reflection_;
};

TEST_F(ReflectionServiceTest, ListsRegistryServicesIncludingItself) {
  ServerReflectionRequest request;
  request.set_host("example:1");
  request.set_list_services("*");
  ServerReflectionResponse response = Call(request);
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names,
              ElementsAre("dualrpc.v1.FileService", "grpc.health.v1.Health",
                          "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_EQ(response.valid_host(), "example:1");
  EXPECT_EQ(response.original_request().SerializeAsString(),
            request.SerializeAsString());
}

TEST_F(ReflectionServiceTest, SymbolGivesItsFileThenItsImports) {
  for (const std::string symbol :
       {"dualrpc.v1.FileService", "dualrpc.v1.FileService.Echo",
        "dualrpc.v1.DirectoryEntry.Type", "dualrpc.v1.ListDirectoryRequest"}) {
    ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    ServerReflectionResponse response = Call(request);
    EXPECT_THAT(FileNames(response),
                ElementsAre("dualrpc/v1/file_service.proto",
                            "google/protobuf/timestamp.proto"))
        << symbol;
  }
}

// The bytes are those of FileDescriptor::CopyTo, as grpc++ sends them.
TEST_F(ReflectionServiceTest, FileByNameIsTheGeneratedDescriptor) {
  ServerReflectionRequest request;
  request.set_file_by_filename("grpc/health/v1/health.proto");
  ServerReflectionResponse response = Call(request);
  ASSERT_EQ(response.file_descriptor_response().file_descriptor_proto_size(),
            1);
  FileDescriptorProto expected;
  DescriptorPool::generated_pool()
      ->FindFileByName("grpc/health/v1/health.proto")
      ->CopyTo(&expected);
  EXPECT_EQ(response.file_descriptor_response().file_descriptor_proto(0),
            expected.SerializeAsString());
}

TEST_F(ReflectionServiceTest, DescribesHealthAndReflectionThemselves) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(HealthService::kServiceName);
  EXPECT_THAT(FileNames(Call(request)),
              ElementsAre("grpc/health/v1/health.proto"));
  request.set_file_containing_symbol(ReflectionService::kServiceName);
  EXPECT_THAT(
      FileNames(Call(request)),
      ElementsAre("src/proto/grpc/reflection/v1alpha/reflection.proto"));
}

TEST_F(ReflectionServiceTest, FailuresAreErrorResponsesWithGrpcsWording) {
  struct Case {
    ServerReflectionRequest request;
    int code;
    std::string message;
  };
  std::vector<Case> cases;
  // The returned reference is valid until the next call.
  auto add = [&cases](int code,
                      std::string message) -> ServerReflectionRequest& {
    cases.push_back({ServerReflectionRequest(), code, std::move(message)});
    return cases.back().request;
  };
  add(5, "Symbol not found.").set_file_containing_symbol("dualrpc.v1.Nope");
  add(5, "File not found.").set_file_by_filename("nope.proto");
  add(5, "Type not found.")
      .mutable_file_containing_extension()
      ->set_containing_type("dualrpc.v1.Nope");
  ServerReflectionRequest& no_extension = add(5, "Extension not found.");
  no_extension.mutable_file_containing_extension()->set_containing_type(
      "dualrpc.v1.EchoRequest");
  no_extension.mutable_file_containing_extension()->set_extension_number(100);
  add(5, "Type not found.")
      .set_all_extension_numbers_of_type("dualrpc.v1.Nope");
  add(12, "").set_host("no message_request");
  for (const Case& c : cases) {
    ServerReflectionResponse response = Call(c.request);
    ASSERT_TRUE(response.has_error_response()) << c.request.ShortDebugString();
    EXPECT_EQ(response.error_response().error_code(), c.code);
    EXPECT_EQ(response.error_response().error_message(), c.message);
    EXPECT_EQ(response.original_request().SerializeAsString(),
              c.request.SerializeAsString());
  }
}

// As grpcurl asks: several questions on one stream, each answered once, in
// order, failures as error_response in the stream, the call OK.
TEST_F(ReflectionServiceTest, SeveralRequestsOnOneStreamAnsweredInOrder) {
  std::vector<ServerReflectionRequest> requests(4);
  requests[0].set_list_services("");
  requests[1].set_file_containing_symbol("dualrpc.v1.FileService");
  requests[2].set_file_containing_symbol("no.such.Symbol");
  requests[3].set_file_by_filename("dualrpc/v1/file_service.proto");
  for (const char* path :
       {ReflectionService::kInfoPath, ReflectionService::kV1InfoPath}) {
    std::vector<std::string> answers = Exchange(path, requests);
    ASSERT_EQ(answers.size(), 4u) << path;
    std::vector<ServerReflectionResponse> responses(4);
    for (std::size_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(responses[i].ParseFromString(answers[i])) << path;
      EXPECT_EQ(responses[i].original_request().SerializeAsString(),
                requests[i].SerializeAsString())
          << path << " " << i;
    }
    EXPECT_TRUE(responses[0].has_list_services_response()) << path;
    EXPECT_THAT(FileNames(responses[1]),
                ElementsAre("dualrpc/v1/file_service.proto",
                            "google/protobuf/timestamp.proto"))
        << path;
    EXPECT_EQ(responses[2].error_response().error_code(),
              static_cast<int>(absl::StatusCode::kNotFound))
        << path;
    EXPECT_EQ(responses[2].error_response().error_message(),
              "Symbol not found.")
        << path;
    // The same file, the same bytes.
    EXPECT_EQ(responses[3].file_descriptor_response().SerializeAsString(),
              responses[1].file_descriptor_response().SerializeAsString())
        << path;
  }
}

// v1 and v1alpha give byte-identical answers (their fields are the same).
TEST_F(ReflectionServiceTest, V1AnswersAsV1Alpha) {
  std::vector<ServerReflectionRequest> requests(3);
  requests[0].set_host("h");
  requests[0].set_list_services("");
  requests[1].set_file_containing_symbol("grpc.health.v1.Health");
  requests[2].set_all_extension_numbers_of_type("nope.Type");
  EXPECT_EQ(Exchange(ReflectionService::kV1InfoPath, requests),
            Exchange(ReflectionService::kInfoPath, requests));
  // And v1's messages really are v1's.
  const rpc::Method* v1 = registry_.FindMethod(ReflectionService::kV1InfoPath);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->new_request()->GetDescriptor()->full_name(),
            "grpc.reflection.v1.ServerReflectionRequest");
  EXPECT_EQ(v1->new_response()->GetDescriptor()->full_name(),
            "grpc.reflection.v1.ServerReflectionResponse");
}

TEST_F(ReflectionServiceTest, AStreamWithNoRequestsEndsOk) {
  EXPECT_THAT(Exchange(ReflectionService::kInfoPath, {}), ::testing::IsEmpty());
}

// A client that cancels while an answer is held ends the call; no more
// answers, no broken contract.
TEST_F(ReflectionServiceTest, CancelledStreamEnds) {
  const rpc::Method* method = registry_.FindMethod(ReflectionService::kInfoPath);
  ASSERT_NE(method, nullptr);
  dualrpc_testing::FakeServerStream stream;
  stream.HoldWrites();
  stream.Start(*method);
  ServerReflectionRequest request;
  request.set_list_services("");
  stream.PushRequest(request);
  stream.PushRequest(request);
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_EQ(stream.write_count(), 1u);
  EXPECT_THAT(stream.misuses(), ::testing::IsEmpty());
}

TEST_F(ReflectionServiceTest, ExtensionNumbersOfATypeWithoutExtensions) {
  ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type("dualrpc.v1.EchoRequest");
  ServerReflectionResponse response = Call(request);
  ASSERT_TRUE(response.has_all_extension_numbers_response());
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(),
            "dualrpc.v1.EchoRequest");
  EXPECT_EQ(response.all_extension_numbers_response().extension_number_size(),
            0);
}

// A pool of its own, to give the dependency walk a diamond and extensions:
// top imports left and right, both import base; right extends base.
class ReflectionServicePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Build(R"pb(name: "base.proto"
               package: "t"
               syntax: "proto2"
               message_type {
                 name: "Base"
                 extension_range { start: 100 end: 200 }
               })pb");
    Build(R"pb(name: "left.proto"
               package: "t"
               dependency: "base.proto"
               message_type { name: "Left" })pb");
    Build(R"pb(name: "right.proto"
               package: "t"
               syntax: "proto2"
               dependency: "base.proto"
               extension {
                 name: "answer"
                 number: 142
                 label: LABEL_OPTIONAL
                 type: TYPE_INT32
                 extendee: ".t.Base"
               })pb");
    Build(R"pb(name: "top.proto"
               package: "t"
               dependency: "left.proto"
               dependency: "right.proto"
               service { name: "Top" })pb");
  }

  void Build(const std::string& text) {
    FileDescriptorProto file;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file));
    ASSERT_NE(pool_.BuildFile(file), nullptr) << text;
  }

  DescriptorPool pool_;
  rpc::ServiceRegistry registry_;
};

TEST_F(ReflectionServicePoolTest, DependenciesDepthFirstEachOnce) {
  ReflectionService reflection(&registry_, &pool_);
  ServerReflectionRequest request;
  request.set_file_containing_symbol("t.Top");
  EXPECT_THAT(
      FileNames(reflection.Answer(request)),
      ElementsAre("top.proto", "left.proto", "base.proto", "right.proto"));
}

TEST_F(ReflectionServicePoolTest, AnswersExtensionQueries) {
  ReflectionService reflection(&registry_, &pool_);
  ServerReflectionRequest request;
  request.mutable_file_containing_extension()->set_containing_type("t.Base");
  request.mutable_file_containing_extension()->set_extension_number(142);
  EXPECT_THAT(FileNames(reflection.Answer(request)),
              ElementsAre("right.proto", "base.proto"));

  request.set_all_extension_numbers_of_type("t.Base");
  ServerReflectionResponse response = reflection.Answer(request);
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(),
            "t.Base");
  EXPECT_THAT(response.all_extension_numbers_response().extension_number(),
              ElementsAre(142));
}

// The reflection classes come from libgrpc++_reflection, their header is
// generated here (proto/CMakeLists.txt). Writing through the header's
// inline accessors and reading through the library's descriptors and
// reflection shows that the two agree on every field.
TEST(ReflectionHeaderTest, MatchesTheLibrarysClasses) {
  ServerReflectionResponse response;
  response.set_valid_host("host");
  response.mutable_original_request()->set_host("request host");
  response.mutable_original_request()
      ->mutable_file_containing_extension()
      ->set_extension_number(7);
  response.mutable_error_response()->set_error_code(5);
  response.mutable_error_response()->set_error_message("message");

  const auto* descriptor = response.GetDescriptor();
  EXPECT_EQ(descriptor->file()->name(),
            "src/proto/grpc/reflection/v1alpha/reflection.proto");
  const auto* reflection = response.GetReflection();
  EXPECT_EQ(reflection->GetString(response,
                                  descriptor->FindFieldByName("valid_host")),
            "host");
  const google::protobuf::Message& error = reflection->GetMessage(
      response, descriptor->FindFieldByName("error_response"));
  EXPECT_EQ(error.GetReflection()->GetInt32(
                error, error.GetDescriptor()->FindFieldByName("error_code")),
            5);
  EXPECT_EQ(error.GetReflection()->GetString(
                error, error.GetDescriptor()->FindFieldByName("error_message")),
            "message");

  ServerReflectionResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response.SerializeAsString()));
  EXPECT_EQ(
      parsed.original_request().file_containing_extension().extension_number(),
      7);
  EXPECT_EQ(parsed.original_request().host(), "request host");
  EXPECT_EQ(ServerReflectionRequest::kListServicesFieldNumber,
            ServerReflectionRequest::descriptor()
                ->FindFieldByName("list_services")
                ->number());
}

}  // namespace
}  // namespace dualrpc::inspection
