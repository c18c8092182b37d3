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

ABSL_FLAG(bool, l, false, "test: short bool flag");
ABSL_FLAG(bool, test_bool, false, "test: bool flag");
ABSL_FLAG(int32_t, test_int, 0, "test: int flag");
ABSL_FLAG(std::string, test_string, "default", "test: string flag");
ABSL_FLAG(absl::Duration, test_duration, absl::Seconds(10),
          "test: duration flag");

namespace dualrpc::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_FALSE(parsed->help_requested);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_string), "x");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_int), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_duration), absl::Milliseconds(250));
}

TEST_F(ParseCommandLineFlagsTest, ShortBoolBeforePath) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "-l", "dir"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_TRUE(absl::GetFlag(FLAGS_l));
}

TEST_F(ParseCommandLineFlagsTest, ShortBoolAfterPath) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "dir", "-l"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("ls", "dir"));
  EXPECT_TRUE(absl::GetFlag(FLAGS_l));
}

TEST_F(ParseCommandLineFlagsTest, BoolForms) {
  ASSERT_TRUE(Parse({"--test_bool"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_TRUE(Parse({"--notest_bool"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_TRUE(Parse({"--test_bool=true"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  ASSERT_TRUE(Parse({"--test_bool=false"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_bool));
}

TEST_F(ParseCommandLineFlagsTest, BoolDoesNotTakeTheNextArgument) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"--test_bool", "false"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_bool));
  EXPECT_THAT(parsed->positional, ElementsAre("false"));
}

TEST_F(ParseCommandLineFlagsTest, DoubleDashEndsFlags) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"echo", "--", "-l", "--test_int=3", "--"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional,
              ElementsAre("echo", "-l", "--test_int=3", "--"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_l));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_int), 0);
}

TEST_F(ParseCommandLineFlagsTest, LoneDashAndEmptyArePositional) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"-", ""});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("-", ""));
}

TEST_F(ParseCommandLineFlagsTest, Help) {
  for (const char* help : {"--help", "-help", "-h", "--h"}) {
    absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", help});
    ASSERT_TRUE(parsed.ok()) << help;
    EXPECT_TRUE(parsed->help_requested) << help;
  }
}

TEST_F(ParseCommandLineFlagsTest, UnknownFlag) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "--bogus"});
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_EQ(Parse({"--notest_int"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"--notest_bool=true"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ParseCommandLineFlagsTest, MissingValue) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse({"ls", "--test_int"});
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
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
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed->positional, IsEmpty());
}

}  // namespace
}  // namespace dualrpc::cli
