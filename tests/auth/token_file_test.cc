#include "dualrpc/auth/token_file.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::auth {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

TEST(TokenFileTest, ParsesEntriesCommentsAndBlankLines) {
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokenFile(
      "# the team\n"
      "\n"
      "   \t \n"
      "s3cr3t alice\n"
      "\tt0k3n   bob /dualrpc.v1.FileService/Stat /grpc.health.v1.Health/* "
      "# read-only\n"
      "tok#en carol  # '#' inside a token is part of it\r\n",
      "tokens.txt");
  ASSERT_THAT(entries, IsOk());
  ASSERT_THAT(*entries, SizeIs(3));
  EXPECT_EQ((*entries)[0].token, "s3cr3t");
  EXPECT_EQ((*entries)[0].principal, "alice");
  EXPECT_THAT((*entries)[0].methods, IsEmpty());
  EXPECT_EQ((*entries)[0].line, 4);
  EXPECT_EQ((*entries)[1].principal, "bob");
  EXPECT_THAT((*entries)[1].methods,
              ElementsAre("/dualrpc.v1.FileService/Stat",
                          "/grpc.health.v1.Health/*"));
  EXPECT_EQ((*entries)[1].line, 5);
  EXPECT_EQ((*entries)[2].token, "tok#en");
  EXPECT_EQ((*entries)[2].principal, "carol");
}

TEST(TokenFileTest, EmptyFileHasNoTokens) {
  EXPECT_THAT(ParseTokenFile("", "f"), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(ParseTokenFile("# nothing\n\n", "f"), IsOkAndHolds(IsEmpty()));
}

struct Malformed {
  const char* name;
  const char* contents;
  const char* message;  // file:line and what
};

class MalformedTokenFileTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTokenFileTest, IsInvalidArgumentWithTheLineNumber) {
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile(GetParam().contents, "/etc/dualrpc/tokens");
  EXPECT_THAT(entries, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr(GetParam().message)));
  // Never the token itself.
  EXPECT_THAT(entries.status().message(), Not(HasSubstr("SECRET")));
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, MalformedTokenFileTest,
    ::testing::Values(
        Malformed{"NoPrincipal", "ok alice\n\n  SECRET   # comment\n",
                  "/etc/dualrpc/tokens:3: a token without a principal"},
        Malformed{"DuplicateToken", "SECRET alice\nx bob\nSECRET carol\n",
                  "/etc/dualrpc/tokens:3: duplicate token (first on line 1)"},
        Malformed{"BadMethod", "SECRET alice /nosuchform\n",
                  "/etc/dualrpc/tokens:1: bad method \"/nosuchform\""},
        Malformed{"MethodWithoutSlash", "a b\nSECRET alice pkg.Svc/M\n",
                  "/etc/dualrpc/tokens:2: bad method"},
        Malformed{"WildcardMethodName", "SECRET alice /pkg.Svc/Get*\n",
                  "/etc/dualrpc/tokens:1: bad method"},
        Malformed{"WildcardService", "SECRET alice /*\n",
                  "/etc/dualrpc/tokens:1: bad method"},
        Malformed{"ControlByteInToken", "SECRET\x01" "x alice\n",
                  "/etc/dualrpc/tokens:1: the token holds a control"},
        Malformed{"NonAsciiPrincipal", "\nSECRET al\xc3\xaf" "ce\n",
                  "/etc/dualrpc/tokens:2: the principal holds a control"}),
    [](const ::testing::TestParamInfo<Malformed>& info) {
      return info.param.name;
    });

TEST(TokenFileTest, ReadsAFileAndNamesAMissingOne) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.path() + "/tokens";
  {
    std::ofstream out(path);
    out << "t1 alice\nt2\n";
  }
  EXPECT_THAT(ReadTokenFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(path + ":2:")));
  EXPECT_THAT(ReadTokenFile(dir.path() + "/absent"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
}

TEST(MethodPatternTest, MatchesPathsAndWholeServices) {
  EXPECT_TRUE(MethodPatternMatches("/a.S/M", "/a.S/M"));
  EXPECT_FALSE(MethodPatternMatches("/a.S/M", "/a.S/MM"));
  EXPECT_TRUE(MethodPatternMatches("/a.S/*", "/a.S/M"));
  EXPECT_FALSE(MethodPatternMatches("/a.S/*", "/a.S/"));
  EXPECT_FALSE(MethodPatternMatches("/a.S/*", "/a.SS/M"));
  EXPECT_FALSE(MethodPatternMatches("/a.S/*", "/a.T/M"));
}

TEST(MethodPatternTest, ParsesCommaSeparatedLists) {
  EXPECT_THAT(ParseMethodPatternList(" /a.S/*, /b.T/M ,,"),
              IsOkAndHolds(ElementsAre("/a.S/*", "/b.T/M")));
  EXPECT_THAT(ParseMethodPatternList(""), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(ParseMethodPatternList("/a.S/*,nope"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nope")));
}

}  // namespace
}  // namespace dualrpc::auth
