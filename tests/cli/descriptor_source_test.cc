// FileDescriptorSource from .proto files and protosets on disk, and the
// choice MakeDescriptorSource makes. The CLI's use of both against real
// servers is in tests/integration/schema_sources_test.

#include "dualrpc/cli/descriptor_source.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/cli/reflection_client.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::FileDescriptorSet;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::NotNull;

// tests/thirdparty/proto: greet.proto imports salutation.proto.
const std::string kProtoDir = DUALRPC_THIRDPARTY_PROTO_DIR;
constexpr char kGreetProto[] = "thirdparty/greet/v1/greet.proto";

TEST(FileDescriptorSourceTest, ParsesProtoFilesAndTheirImports) {
  absl::StatusOr<std::unique_ptr<FileDescriptorSource>> source =
      FileDescriptorSource::FromProtoFiles({kGreetProto}, {kProtoDir});
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->ListServices(),
              IsOkAndHolds(ElementsAre("thirdparty.greet.v1.Greeter")));
  ASSERT_THAT((*source)->LoadSymbol("thirdparty.greet.v1.HelloRequest"),
              IsOk());
  const auto* request = (*source)->pool().FindMessageTypeByName(
      "thirdparty.greet.v1.HelloRequest");
  ASSERT_THAT(request, NotNull());
  // Defined in the imported file.
  EXPECT_EQ(request->FindFieldByName("salutation")->enum_type()->full_name(),
            "thirdparty.greet.v1.Salutation");
  EXPECT_THAT((*source)->LoadSymbol("thirdparty.greet.v1.Nope"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("thirdparty.greet.v1.Nope")));
}

// As protoc takes it: a path on disk beneath an import path.
TEST(FileDescriptorSourceTest, TakesADiskPathBeneathAnImportPath) {
  EXPECT_THAT(FileDescriptorSource::FromProtoFiles(
                  {kProtoDir + "/" + kGreetProto}, {"/nonexistent", kProtoDir}),
              IsOk());
}

TEST(FileDescriptorSourceTest, MissingFilesAreNamed) {
  EXPECT_THAT(FileDescriptorSource::FromProtoFiles({"nope.proto"}, {kProtoDir}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "cannot load nope.proto: nope.proto: File not found."));
  // The import path lacks the directory greet.proto's import is relative to.
  EXPECT_THAT(FileDescriptorSource::FromProtoFiles(
                  {"greet.proto"}, {kProtoDir + "/thirdparty/greet/v1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("thirdparty/greet/v1/salutation.proto: File "
                                 "not found.")));
}

TEST(FileDescriptorSourceTest, SyntaxAndTypeErrorsNameTheirLine) {
  dualrpc_testing::TempDir dir;
  dir.WriteFile("syntax.proto",
                "syntax = \"proto3\";\nmessage M {\n  int32 = 1;\n}\n");
  dir.WriteFile("types.proto",
                "syntax = \"proto3\";\nmessage M {\n  Missing m = 1;\n}\n");
  EXPECT_THAT(
      FileDescriptorSource::FromProtoFiles({"syntax.proto"}, {dir.path()}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("syntax.proto:3:")));
  EXPECT_THAT(
      FileDescriptorSource::FromProtoFiles({"types.proto"}, {dir.path()}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("types.proto:3:")));
}

// The well-known types need no import path of their own.
TEST(FileDescriptorSourceTest, WellKnownImportsAreBuiltIn) {
  dualrpc_testing::TempDir dir;
  dir.WriteFile("clock.proto",
                "syntax = \"proto3\";\n"
                "import \"google/protobuf/timestamp.proto\";\n"
                "package clock;\n"
                "service Clock { rpc Now(Empty) returns (Time); }\n"
                "message Empty {}\n"
                "message Time { google.protobuf.Timestamp at = 1; }\n");
  absl::StatusOr<std::unique_ptr<FileDescriptorSource>> source =
      FileDescriptorSource::FromProtoFiles({"clock.proto"}, {dir.path()});
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->ListServices(),
              IsOkAndHolds(ElementsAre("clock.Clock")));
}

// dualrpc's own contract as a protoset, without its imports (as protoc
// writes it without --include_imports): the well-known ones are built in.
std::string FileServiceProtoset() {
  FileDescriptorSet set;
  v1::EchoRequest::descriptor()->file()->CopyTo(set.add_file());
  return set.SerializeAsString();
}

TEST(FileDescriptorSourceTest, ReadsProtosets) {
  dualrpc_testing::TempDir dir;
  dir.WriteFile("a.protoset", FileServiceProtoset());
  dir.WriteFile("b.protoset", FileServiceProtoset());
  absl::StatusOr<std::unique_ptr<FileDescriptorSource>> source =
      FileDescriptorSource::FromProtosets(
          {dir.HostPath("a.protoset"), dir.HostPath("b.protoset")});
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->ListServices(),
              IsOkAndHolds(ElementsAre("dualrpc.v1.FileService")));
  ASSERT_THAT((*source)->LoadSymbol("dualrpc.v1.DirectoryEntry"), IsOk());
  EXPECT_THAT(
      (*source)->pool().FindMessageTypeByName("google.protobuf.Timestamp"),
      NotNull());
}

TEST(FileDescriptorSourceTest, BadProtosetsAreInvalidArgument) {
  dualrpc_testing::TempDir dir;
  dir.WriteFile("garbage.protoset", "\xff\xff\xff");
  FileDescriptorSet other;
  v1::EchoRequest::descriptor()->file()->CopyTo(other.add_file());
  other.mutable_file(0)->mutable_message_type(0)->set_name("Renamed");
  dir.WriteFile("good.protoset", FileServiceProtoset());
  dir.WriteFile("other.protoset", other.SerializeAsString());
  FileDescriptorSet unbuildable;
  unbuildable.add_file()->set_name("a.proto");
  unbuildable.mutable_file(0)->add_dependency("missing.proto");
  dir.WriteFile("unbuildable.protoset", unbuildable.SerializeAsString());

  EXPECT_THAT(FileDescriptorSource::FromProtosets({dir.HostPath("none")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot read protoset")));
  EXPECT_THAT(
      FileDescriptorSource::FromProtosets({dir.HostPath("garbage.protoset")}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("not a serialized FileDescriptorSet")));
  EXPECT_THAT(
      FileDescriptorSource::FromProtosets(
          {dir.HostPath("good.protoset"), dir.HostPath("other.protoset")}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("has another dualrpc/v1/file_service.proto")));
  EXPECT_THAT(FileDescriptorSource::FromProtosets(
                  {dir.HostPath("unbuildable.protoset")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot load a.proto: a.proto")));
}

TEST(MakeDescriptorSourceTest, FilesOrReflection) {
  SchemaFiles none;
  absl::StatusOr<std::unique_ptr<DescriptorSource>> reflection =
      MakeDescriptorSource(none, nullptr, absl::Seconds(1));
  ASSERT_THAT(reflection, IsOk());
  EXPECT_THAT(dynamic_cast<ReflectionClient*>(reflection->get()), NotNull());

  SchemaFiles protos;
  protos.proto_files = {kGreetProto};
  protos.import_paths = {kProtoDir};
  absl::StatusOr<std::unique_ptr<DescriptorSource>> files =
      MakeDescriptorSource(protos, nullptr, absl::Seconds(1));
  ASSERT_THAT(files, IsOk());
  EXPECT_THAT(dynamic_cast<FileDescriptorSource*>(files->get()), NotNull());

  SchemaFiles both = protos;
  both.protosets = {"x.protoset"};
  EXPECT_THAT(
      MakeDescriptorSource(both, nullptr, absl::Seconds(1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not both")));
  SchemaFiles import_path_only;
  import_path_only.import_paths = {kProtoDir};
  EXPECT_THAT(MakeDescriptorSource(import_path_only, nullptr, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("-import-path needs -proto")));
}

}  // namespace
}  // namespace dualrpc::cli
