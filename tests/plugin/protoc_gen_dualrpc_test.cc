// protoc-gen-dualrpc run by the real protoc, on edge cases the inventory
// test proto (which the build compiles and the rpc tests run) does not
// cover: no package, no services, bidirectional streaming, comments with
// the printer's delimiter, options.

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
  EXPECT_THAT(header,
              HasSubstr("// Chat (bidirectional streaming) is not generated"));
  EXPECT_THAT(header, Not(HasSubstr("kChatMethod")));
  EXPECT_THAT(ReadFile(out_.HostPath("plain.dualrpc.cc")),
              Not(HasSubstr("&ShopBase::Chat")));
}

TEST_F(ProtocGenDualrpcTest, RejectsOptions) {
  dualrpc_testing::CommandResult result =
      Generate(DUALRPC_PROTO_DIR, "dualrpc/v1/file_service.proto", "lite");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("takes no options"));
}

}  // namespace
}  // namespace dualrpc::plugin
