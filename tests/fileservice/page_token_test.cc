#include "dualrpc/fileservice/page_token.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::fileservice {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

TEST(PageTokenTest, RoundTripsPathAndRawName) {
  const PageCursor cursor{"dir/sub", std::string("\xff\xfe name\x01", 8)};
  absl::StatusOr<PageCursor> decoded =
      DecodePageToken(EncodePageToken(cursor), "dir/sub");
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->path, "dir/sub");
  EXPECT_EQ(decoded->last_name, cursor.last_name);
}

// The size a page budgets for its token is the token's real size, for every
// remainder of the base64 groups and for the root's two spellings.
TEST(PageTokenTest, EncodedSizeIsTheTokensSize) {
  for (const std::string& path : {std::string(), std::string("."),
                                  std::string("d"), std::string("dir/sub"),
                                  std::string(4000, 'p')}) {
    for (std::size_t name_bytes = 0; name_bytes <= 255; ++name_bytes) {
      const std::string name(name_bytes, '\xfe');
      EXPECT_EQ(EncodedPageTokenSize(path, name),
                EncodePageToken({path, name}).size())
          << "path of " << path.size() << " bytes, name of " << name_bytes;
    }
  }
}

TEST(PageTokenTest, IsUrlSafe) {
  const std::string token =
      EncodePageToken({"a/b", std::string(200, '\xff') + "?/+="});
  ASSERT_FALSE(token.empty());
  for (char c : token) {
    EXPECT_TRUE(absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '-' || c == '_')
        << "unexpected character '" << c << "' in " << token;
  }
}

TEST(PageTokenTest, IsBoundToItsPath) {
  const std::string token = EncodePageToken({"a", "name"});
  for (absl::string_view other : {"b", "a/", "./a", "", ".", "A"}) {
    absl::StatusOr<PageCursor> decoded = DecodePageToken(token, other);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << "path \"" << other << "\": " << decoded.status();
  }
}

TEST(PageTokenTest, EmptyAndDotAreTheSameRoot) {
  for (absl::string_view issued : {"", "."}) {
    const std::string token = EncodePageToken({std::string(issued), "n"});
    for (absl::string_view used : {"", "."}) {
      absl::StatusOr<PageCursor> decoded = DecodePageToken(token, used);
      ASSERT_THAT(decoded, IsOk()) << issued << " -> " << used;
      EXPECT_EQ(decoded->path, ".");
      EXPECT_EQ(decoded->last_name, "n");
    }
  }
}

TEST(PageTokenTest, RejectsGarbage) {
  const std::string oversized(100000, 'A');
  for (absl::string_view garbage :
       {absl::string_view(""), absl::string_view("!!!!"),
        absl::string_view("not a token"), absl::string_view("AAAA"),
        absl::string_view("AQ"), absl::string_view("a+b/c==="),
        absl::string_view(oversized)}) {
    absl::StatusOr<PageCursor> decoded = DecodePageToken(garbage, "a");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << garbage.substr(0, 32) << "\": " << decoded.status();
  }
}

TEST(PageTokenTest, RejectsEveryTruncation) {
  const std::string token = EncodePageToken({"some/dir", "last-name"});
  for (std::size_t length = 0; length < token.size(); ++length) {
    absl::StatusOr<PageCursor> decoded =
        DecodePageToken(token.substr(0, length), "some/dir");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << "prefix of length " << length << ": " << decoded.status();
  }
}

TEST(PageTokenTest, RejectsTrailingBytes) {
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken({"d", "n"}), &raw));
  for (absl::string_view extra :
       {absl::string_view("\0", 1), absl::string_view("x"),
        absl::string_view("xyz")}) {
    const std::string token =
        absl::WebSafeBase64Escape(raw + std::string(extra));
    EXPECT_EQ(DecodePageToken(token, "d").status().code(),
              absl::StatusCode::kInvalidArgument)
        << "extra \"" << extra << "\"";
  }
}

TEST(PageTokenTest, RejectsUnknownVersion) {
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken({"d", "n"}), &raw));
  const int issued_version = static_cast<unsigned char>(raw[0]);
  for (int version = 0; version < 256; ++version) {
    if (version == issued_version) continue;
    raw[0] = static_cast<char>(version);
    EXPECT_EQ(
        DecodePageToken(absl::WebSafeBase64Escape(raw), "d").status().code(),
        absl::StatusCode::kInvalidArgument)
        << "version " << version;
  }
}

TEST(PageTokenTest, RejectsNameLongerThanAnyFileName) {
  const std::string token = EncodePageToken({"d", std::string(256, 'n')});
  EXPECT_THAT(DecodePageToken(token, "d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::fileservice
