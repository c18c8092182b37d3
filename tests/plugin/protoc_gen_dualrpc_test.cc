// protoc-gen-dualrpc run by the real protoc, on edge cases the inventory
// test proto (which the build compiles and the rpc tests run) does not
// cover: no package, no services, bidirectional streaming, comments with
// the printer's delimiter, options; and the text of every streaming kind.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc::plugin {
namespace {

using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class ProtocGenDualrpcTest : public ::testing::Test {
 protected:
  // Runs protoc with the plugin on `proto_name` below `import_dir`, writing
  // into out_; `option` is passed as the plugin's parameter if non-empty.
  dualrpc_testing::CommandResult Generate(const std::string& import_dir,
                                          const std::string& proto_name,
                                          const std::string& option = "") {
    const std::string out_flag =
        "--dualrpc_out=" + (option.empty() ? "" : option + ":") + out_.path();
    return dualrpc_testing::RunCommand(
        {DUALRPC_PROTOC_PATH,
         "--plugin=protoc-gen-dualrpc=" DUALRPC_PLUGIN_PATH, out_flag, "-I",
         import_dir, import_dir + "/" + proto_name});
  }

  dualrpc_testing::TempDir in_;
  dualrpc_testing::TempDir out_;
};

TEST_F(ProtocGenDualrpcTest, FileWithoutServicesGetsBothFilesDeclaringNothing) {
  dualrpc_testing::CommandResult result =
      Generate(DUALRPC_PROTO_DIR, "dualrpc/wire/v1/wire.proto");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stderr_text, "");
  const std::string header =
      ReadFile(out_.HostPath("dualrpc/wire/v1/wire.dualrpc.h"));
  EXPECT_THAT(header, HasSubstr("defines no services"));
  EXPECT_THAT(header, Not(HasSubstr("class")));
  EXPECT_THAT(ReadFile(out_.HostPath("dualrpc/wire/v1/wire.dualrpc.cc")),
              HasSubstr("#include \"dualrpc/wire/v1/wire.dualrpc.h\""));
}

TEST_F(ProtocGenDualrpcTest, HandlesNoPackageStreamingAndDollarComments) {
  in_.WriteFile("plain.proto", R"(syntax = "proto3";
message Outer {
  message Inner { optional int32 n = 1; }
}
// Costs $5.\
service Shop {
  // Buys one; see $path$.
  rpc Buy(Outer.Inner) returns (Outer);
  rpc Chat(stream Outer) returns (stream Outer);
}
)");
  dualrpc_testing::CommandResult result = Generate(in_.path(), "plain.proto");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  const std::string header = ReadFile(out_.HostPath("plain.dualrpc.h"));
  EXPECT_THAT(header, Not(HasSubstr("namespace")));
  EXPECT_THAT(header, HasSubstr("#include \"plain.pb.h\""));
  EXPECT_THAT(header, HasSubstr("::absl::StatusOr<::Outer> Buy("));
  EXPECT_THAT(header, HasSubstr("const ::Outer_Inner& request"));
  // The caller-supplied-response form.
  EXPECT_THAT(header, HasSubstr("::Outer* response,"));
  EXPECT_THAT(header, HasSubstr("// Buys one; see $path$."));
  EXPECT_THAT(header, HasSubstr("// Costs $5.\\.\n"));
  // Bidi, without a package: the forms of reactor.h and blocking_stream.h.
  EXPECT_THAT(header, HasSubstr("kChatMethod[] = \"/Shop/Chat\""));
  EXPECT_THAT(header,
              HasSubstr("std::unique_ptr<::dualrpc::rpc::ClientReaderWriter<\n"
                        "      ::Outer, ::Outer>>\n"
                        "  Chat(const ::dualrpc::rpc::CallOptions& options = "
                        "{});\n"));
  EXPECT_THAT(header,
              HasSubstr("void ChatAsync(\n"
                        "      const ::dualrpc::rpc::CallOptions& options,\n"
                        "      ::dualrpc::rpc::ClientBidiReactor<::Outer, "
                        "::Outer>* reactor);\n"));
  EXPECT_THAT(header, HasSubstr("virtual ::dualrpc::rpc::ServerBidiReactor<\n"
                                "      ::Outer, ::Outer>*\n"
                                "  Chat(::dualrpc::rpc::ServerStream* "
                                "stream);\n"));
  const std::string source = ReadFile(out_.HostPath("plain.dualrpc.cc"));
  EXPECT_THAT(source,
              HasSubstr("::dualrpc::rpc::MakeBidiStreamingMethod(\n"
                        "      ShopClient::kChatMethod, service, "
                        "&ShopBase::Chat)"));
  EXPECT_THAT(source, HasSubstr("\"Shop/Chat is not implemented by this "
                                "server\""));
}

// The generated text of each streaming kind, on the test proto that the
// build also compiles (with -Werror) and that generated_api_test checks
// against the fixed API with static_asserts.
TEST_F(ProtocGenDualrpcTest, GeneratesEveryStreamingKind) {
  const std::string dir = DUALRPC_TEST_PROTO_DIR;
  dualrpc_testing::CommandResult result =
      Generate(dir, "dualrpc/test/v1/inventory.proto");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stderr_text, "");
  const std::string header =
      ReadFile(out_.HostPath("dualrpc/test/v1/inventory.dualrpc.h"));
  const std::string source =
      ReadFile(out_.HostPath("dualrpc/test/v1/inventory.dualrpc.cc"));
  EXPECT_THAT(header, HasSubstr("#include \"dualrpc/rpc/blocking_stream.h\""));
  EXPECT_THAT(header, HasSubstr("#include \"dualrpc/rpc/reactor.h\""));
  EXPECT_THAT(header, HasSubstr("// Each streaming method Foo comes in two "
                                "forms:"));
  EXPECT_THAT(header, Not(HasSubstr("is not generated")));

  // Server streaming.
  EXPECT_THAT(header, HasSubstr("kWatchItemsMethod[] = "
                                "\"/dualrpc.test.v1.Inventory/WatchItems\""));
  EXPECT_THAT(header,
              HasSubstr("std::unique_ptr<::dualrpc::rpc::ClientReader<::dualrpc"
                        "::test::v1::Item>> WatchItems(\n"
                        "      const ::google::protobuf::Empty& request,\n"
                        "      const ::dualrpc::rpc::CallOptions& options = "
                        "{});\n"));
  EXPECT_THAT(header, HasSubstr("::dualrpc::rpc::ClientReadReactor<::dualrpc::"
                                "test::v1::Item>* reactor);"));
  EXPECT_THAT(header, HasSubstr("virtual ::dualrpc::rpc::ServerWriteReactor<"
                                "::dualrpc::test::v1::Item>*\n"
                                "  WatchItems(::dualrpc::rpc::ServerStream* "
                                "stream,\n"
                                "      const ::google::protobuf::Empty* "
                                "request);"));
  EXPECT_THAT(source, HasSubstr("::dualrpc::rpc::MakeServerStreamingMethod("));
  EXPECT_THAT(source, HasSubstr("  reactor->BindStream(stream);\n"
                                "  stream->StartWrite(request);\n"));

  // Client streaming.
  EXPECT_THAT(header,
              HasSubstr("std::unique_ptr<::dualrpc::rpc::ClientWriter<::dualrpc"
                        "::test::v1::AddItemsRequest_Line>> RestockItems(\n"
                        "      ::dualrpc::test::v1::AddItemsResponse* "
                        "response,\n"));
  EXPECT_THAT(header, HasSubstr("void RestockItemsAsync(\n"
                                "      const ::dualrpc::rpc::CallOptions& "
                                "options,\n"
                                "      ::dualrpc::test::v1::AddItemsResponse* "
                                "response,\n"
                                "      ::dualrpc::rpc::ClientWriteReactor<"
                                "::dualrpc::test::v1::AddItemsRequest_Line>* "
                                "reactor);"));
  EXPECT_THAT(header, HasSubstr("virtual ::dualrpc::rpc::ServerReadReactor<"
                                "::dualrpc::test::v1::AddItemsRequest_Line>*\n"
                                "  RestockItems(::dualrpc::rpc::ServerStream* "
                                "stream,\n"
                                "      ::dualrpc::test::v1::AddItemsResponse* "
                                "response);"));
  EXPECT_THAT(source, HasSubstr("::dualrpc::rpc::MakeClientStreamingMethod("));
  EXPECT_THAT(source, HasSubstr("  reactor->BindStream(stream);\n"
                                "  stream->StartRead(response);\n"));

  // Bidi.
  EXPECT_THAT(header, HasSubstr("::dualrpc::rpc::ClientBidiReactor<::dualrpc::"
                                "test::v1::Item_Key, ::dualrpc::test::v1::"
                                "Item>* reactor);"));
  EXPECT_THAT(header, HasSubstr("  LookupItems(::dualrpc::rpc::ServerStream* "
                                "stream);"));
  EXPECT_THAT(source, HasSubstr("::dualrpc::rpc::MakeBidiStreamingMethod("));

  // Defaults: UNIMPLEMENTED through a reactor that finishes at once.
  EXPECT_THAT(source, HasSubstr("return new ::dualrpc::rpc::FinishedReactor<\n"
                                "      ::dualrpc::rpc::ServerWriteReactor<"
                                "::dualrpc::test::v1::Item>>(\n"
                                "      stream, ::absl::UnimplementedError("));
  EXPECT_THAT(source, HasSubstr("\"dualrpc.test.v1.Inventory/LookupItems is "
                                "not implemented by this server\""));
}

TEST_F(ProtocGenDualrpcTest, RejectsOptions) {
  dualrpc_testing::CommandResult result =
      Generate(DUALRPC_PROTO_DIR, "dualrpc/v1/file_service.proto", "lite");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("takes no options"));
}

}  // namespace
}  // namespace dualrpc::plugin
