#include "dualrpc/cli/json_documents.h"

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Every document of `text`, or the first failure.
absl::StatusOr<std::vector<std::string>> Split(const std::string& text) {
  std::istringstream in(text);
  JsonDocumentReader reader(in);
  std::vector<std::string> documents;
  while (true) {
    absl::StatusOr<std::optional<std::string>> next = reader.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return documents;
    documents.push_back(**next);
  }
}

TEST(JsonDocumentReaderTest, ConcatenatedAndSeparatedObjects) {
  EXPECT_THAT(Split(R"({"a":1}{"a":2} {"a":3}
{"b":{"c":[1,{"d":2}]}})"),
              IsOkAndHolds(ElementsAre(R"({"a":1})", R"({"a":2})", R"({"a":3})",
                                       R"({"b":{"c":[1,{"d":2}]}})")));
}

TEST(JsonDocumentReaderTest, BracketsAndEscapedQuotesInStringsDoNotCount) {
  EXPECT_THAT(Split(R"({"s":"}{\"]"}{"t":"\\"})"),
              IsOkAndHolds(ElementsAre(R"({"s":"}{\"]"})", R"({"t":"\\"})")));
}

TEST(JsonDocumentReaderTest, ScalarDocuments) {
  EXPECT_THAT(Split(R"("a b" 12 true{"x":1}"c")"),
              IsOkAndHolds(ElementsAre(R"("a b")", "12", "true", R"({"x":1})",
                                       R"("c")")));
}

TEST(JsonDocumentReaderTest, EmptyAndWhitespaceOnlyInputHaveNoDocuments) {
  EXPECT_THAT(Split(""), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(Split(" \n\t "), IsOkAndHolds(IsEmpty()));
}

TEST(JsonDocumentReaderTest, TruncatedDocumentAndStrayBracketAreErrors) {
  EXPECT_THAT(Split(R"({"a":1}{"a":)"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Split(R"({"a":"})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Split("}"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Interactive input: a document is returned without reading past it.
TEST(JsonDocumentReaderTest, DoesNotReadPastADocument) {
  std::istringstream in(R"({"a":1}rest)");
  JsonDocumentReader reader(in);
  EXPECT_THAT(reader.Next(),
              IsOkAndHolds(std::optional<std::string>(R"({"a":1})")));
  std::string rest;
  in >> rest;
  EXPECT_EQ(rest, "rest");
}

}  // namespace
}  // namespace dualrpc::cli
