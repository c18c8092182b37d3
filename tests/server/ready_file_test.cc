#include "dualrpc/server/ready_file.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The README's example, byte for byte (scripts/demo greps it with sed).
TEST(ReadyFileTest, FormatIsTheDocumentedOneLineObjectInOrder) {
  EXPECT_THAT(
      FormatReadyFile(
          {{"grpc", "127.0.0.1:41234"}, {"raw", "127.0.0.1:41235"}}),
      IsOkAndHolds(
          "{\"grpc\": \"127.0.0.1:41234\", \"raw\": \"127.0.0.1:41235\"}\n"));
  EXPECT_THAT(FormatReadyFile({{"raw", "b"}, {"grpc", "a"}}),
              IsOkAndHolds("{\"raw\": \"b\", \"grpc\": \"a\"}\n"));
  EXPECT_THAT(FormatReadyFile({}), IsOkAndHolds("{}\n"));
}

TEST(ReadyFileTest, FormatEscapesWhatJsonNeedsEscaped) {
  absl::StatusOr<std::string> json = FormatReadyFile({{"a\"b", "c\\d\n"}});
  ASSERT_THAT(json, IsOk());
  EXPECT_EQ(*json, "{\"a\\\"b\": \"c\\\\d\\n\"}\n");
  EXPECT_THAT(ParseReadyFile(*json),
              IsOkAndHolds(ElementsAre(Pair("a\"b", "c\\d\n"))));
}

TEST(ReadyFileTest, FormatRejectsEmptyAndRepeatedNames) {
  EXPECT_THAT(FormatReadyFile({{"", "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FormatReadyFile({{"grpc", "a"}, {"grpc", "b"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("grpc")));
}

TEST(ReadyFileTest, ParseAcceptsAnyLayout) {
  EXPECT_THAT(
      ParseReadyFile("{\"grpc\": \"127.0.0.1:1\", \"raw\": \"127.0.0.1:2\"}\n"),
      IsOkAndHolds(ElementsAre(Pair("grpc", "127.0.0.1:1"),
                               Pair("raw", "127.0.0.1:2"))));
  EXPECT_THAT(ParseReadyFile("{\n  \"floor\":\"[::1]:3\"\n}"),
              IsOkAndHolds(ElementsAre(Pair("floor", "[::1]:3"))));
  EXPECT_THAT(ParseReadyFile("{}"), IsOkAndHolds(IsEmpty()));
}

TEST(ReadyFileTest, ParseRejectsWhatIsNotAnObjectOfStrings) {
  for (const char* bad :
       {"", "{", "[]", "\"grpc\"", "{\"grpc\": 41234}", "{\"grpc\": null}",
        "{\"grpc\": {\"host\": \"x\"}}", "{\"grpc\": \"a\"} trailing"}) {
    EXPECT_THAT(ParseReadyFile(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(ReadyFileTest, WriteThenReadRoundTripsAndLeavesNoTempFile) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.HostPath("ready.json");
  ASSERT_THAT(
      WriteReadyFile(path, {{"grpc", "127.0.0.1:9"}, {"raw", "127.0.0.1:10"}}),
      IsOk());
  EXPECT_EQ(ReadFile(path),
            "{\"grpc\": \"127.0.0.1:9\", \"raw\": \"127.0.0.1:10\"}\n");
  EXPECT_THAT(ReadReadyFile(path),
              IsOkAndHolds(ElementsAre(Pair("grpc", "127.0.0.1:9"),
                                       Pair("raw", "127.0.0.1:10"))));
  struct stat unused;
  EXPECT_NE(::stat((path + ".tmp").c_str(), &unused), 0);
  // A second write replaces the whole file.
  ASSERT_THAT(WriteReadyFile(path, {{"raw", "127.0.0.1:11"}}), IsOk());
  EXPECT_THAT(ReadReadyFile(path),
              IsOkAndHolds(ElementsAre(Pair("raw", "127.0.0.1:11"))));
}

TEST(ReadyFileTest, ReadOfAMissingFileIsNotFound) {
  dualrpc_testing::TempDir dir;
  EXPECT_THAT(ReadReadyFile(dir.HostPath("absent.json")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(ReadyFileTest, WriteIntoAMissingDirectoryFails) {
  dualrpc_testing::TempDir dir;
  EXPECT_THAT(
      WriteReadyFile(dir.HostPath("no/such/dir/ready.json"), {{"grpc", "x"}}),
      Not(IsOk()));
}

}  // namespace
}  // namespace dualrpc::server
