#include "dualrpc/cli/flag_parsing.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

ABSL_FLAG(bool, l, false, "test: short bool flag");
ABSL_FLAG(bool, test_bool, false, "test: bool flag");
ABSL_FLAG(int32_t, test_int, 0, "test: int flag");
ABSL_FLAG(std::string, test_string, "default", "test: string flag");
ABSL_FLAG(absl::Duration, test_duration, absl::Seconds(10),
          "test: duration flag");
ABSL_FLAG(std::vector<std::string>, test_list, {"default"}, "test: list flag");
ABSL_FLAG(double, test_max_time, 0, "test: grpcurl-style float seconds");
ABSL_FLAG(bool, test_emit_defaults, false, "test: bool with two words");

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class ParseCommandLineFlagsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ParsedCommandLine> Parse(std::vector<const char*> args) {
    args.insert(args.begin(), "dualrpc");
    return ParseCommandLineFlags(args);
  }

 private:
  absl::FlagSaver restore_flags_;
};

TEST_F(ParseCommandLineFlagsTest, FlagsBeforeAndAfterTheCommand) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"--test_string=x", "ls", "dir", "--test_int", "7",
             "-test_duration=250ms"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_FALSE(parsed->help_requested);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_string), "x");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_int), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_duration), absl::Milliseconds(250));
}

// grpcurl spells names with '-'; Abseil flags cannot have one.
TEST_F(ParseCommandLineFlagsTest, DashesInNamesAreUnderscores) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"-test-max-time", "1.5", "call", "--test-emit-defaults"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("call"));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_max_time), 1.5);
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_emit_defaults));
  ASSERT_THAT(Parse({"-notest-emit-defaults"}), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_emit_defaults));
  EXPECT_THAT(
      Parse({"-test-nope"}),
      StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --test-nope"));
}

TEST_F(ParseCommandLineFlagsTest, RepeatableFlagsCollectEveryValueInOrder) {
  const std::vector<std::string> repeatable = {"H", "rpc_header"};
  std::vector<const char*> argv = {
      "dualrpc", "-H",          "a: 1", "call", "--H=b: 2",      "-H",
      "a: 3",    "-rpc-header", "c: 4", "m",    "--test_string", "x, y"};
  absl::StatusOr<ParsedCommandLine> parsed =
      ParseCommandLineFlags(argv, repeatable);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("call", "m"));
  EXPECT_THAT(
      parsed->repeated,
      UnorderedElementsAre(Pair("H", ElementsAre("a: 1", "b: 2", "a: 3")),
                           Pair("rpc_header", ElementsAre("c: 4"))));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_string), "x, y");

  std::vector<const char*> missing = {"dualrpc", "call", "-H"};
  EXPECT_THAT(
      ParseCommandLineFlags(missing, repeatable),
      StatusIs(absl::StatusCode::kInvalidArgument, "missing value for --H"));
  // Not named repeatable: an unknown flag like any other.
  EXPECT_THAT(Parse({"-H", "a: 1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --H"));
}

TEST_F(ParseCommandLineFlagsTest, ShortBoolBeforePath) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "-l", "dir"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_TRUE(absl::GetFlag(FLAGS_l));
}

TEST_F(ParseCommandLineFlagsTest, ShortBoolAfterPath) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "dir", "-l"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_TRUE(absl::GetFlag(FLAGS_l));
}

TEST_F(ParseCommandLineFlagsTest, BoolForms) {
  ASSERT_THAT(Parse({"--test_bool"}), IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_THAT(Parse({"--notest_bool"}), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_THAT(Parse({"--test_bool=true"}), IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_THAT(Parse({"--test_bool=false"}), IsOk());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_bool));
}

TEST_F(ParseCommandLineFlagsTest, BoolDoesNotTakeTheNextArgument) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"--test_bool", "false"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  EXPECT_THAT(parsed->positional, ElementsAre("false"));
}

TEST_F(ParseCommandLineFlagsTest, DoubleDashEndsFlags) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"echo", "--", "-l", "--test_int=3", "--"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional,
              ElementsAre("echo", "-l", "--test_int=3", "--"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_l));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_int), 0);
}

TEST_F(ParseCommandLineFlagsTest, LoneDashAndEmptyArePositional) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"-", ""});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, ElementsAre("-", ""));
}

TEST_F(ParseCommandLineFlagsTest, Help) {
  for (const char* help : {"--help", "-help", "-h", "--h"}) {
    absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", help});
    ASSERT_THAT(parsed, IsOk()) << help;
    EXPECT_TRUE(parsed->help_requested) << help;
  }
}

// grpcurl's -import-path: a repeated list flag keeps every value, and
// replaces the default; '-' in a name stands for '_'.
TEST_F(ParseCommandLineFlagsTest, ListFlagsRepeatAndNamesTakeDashes) {
  ASSERT_THAT(Parse({"call", "-test-list", "a", "--test_list=b,c", "-test_list",
                     "d", "-test-int=3"}),
              IsOk());
  EXPECT_THAT(absl::GetFlag(FLAGS_test_list), ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_int), 3);
  ASSERT_THAT(Parse({"call", "--test_list=x"}), IsOk());
  EXPECT_THAT(absl::GetFlag(FLAGS_test_list), ElementsAre("x"));
  EXPECT_THAT(Parse({"--bogus-flag"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown flag --bogus-flag")));
}

TEST_F(ParseCommandLineFlagsTest, UnknownFlag) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "--bogus"});
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(parsed.status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--notest_int"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse({"--notest_bool=true"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ParseCommandLineFlagsTest, MissingValue) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "--test_int"});
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(parsed.status().message(), HasSubstr("missing value"));
}

TEST_F(ParseCommandLineFlagsTest, BadValue) {
  for (std::vector<const char*> args :
       std::vector<std::vector<const char*>>{{"--test_int=x"},
                                             {"--test_duration", "5"},
                                             {"--test_duration="},
                                             {"--test_bool=maybe"}}) {
    absl::StatusOr<ParsedCommandLine> parsed = Parse(args);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << args[0];
    EXPECT_THAT(parsed.status().message(), HasSubstr("Illegal value"))
        << args[0];
  }
}

TEST_F(ParseCommandLineFlagsTest, NoArguments) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->positional, IsEmpty());
}

}  // namespace
}  // namespace dualrpc::cli
