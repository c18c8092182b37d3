#include "dualrpc/cli/commands.h"

#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Serves scripted ListDirectory pages keyed by the request's page_token and
// echoes payloads back; records every request so tests can check what the
// command sent.
class FakeFileServiceClient : public FileServiceClient {
 public:
  // The page served for `token`: TYPE_FILE entries named `names`.
  void AddPage(const std::string& token, const std::vector<std::string>& names,
               const std::string& next_page_token) {
    v1::ListDirectoryResponse& page = pages_[token];
    for (const std::string& name : names) {
      v1::DirectoryEntry* entry = page.add_entries();
      entry->set_name(name);
      entry->set_type(v1::DirectoryEntry::TYPE_FILE);
      entry->set_mode(0644);
    }
    page.set_next_page_token(next_page_token);
  }
  void FailWith(absl::Status status) { failure_ = std::move(status); }

  absl::StatusOr<v1::EchoResponse> Echo(const v1::EchoRequest& request,
                                        absl::Duration timeout) override {
    timeouts_.push_back(timeout);
    if (!failure_.ok()) return failure_;
    v1::EchoResponse response;
    response.set_payload(request.payload());
    return response;
  }

  absl::StatusOr<v1::ListDirectoryResponse> ListDirectory(
      const v1::ListDirectoryRequest& request,
      absl::Duration timeout) override {
    list_requests_.push_back(request);
    timeouts_.push_back(timeout);
    if (!failure_.ok()) return failure_;
    auto page = pages_.find(request.page_token());
    if (page == pages_.end()) {
      return absl::InvalidArgumentError("unknown page token");
    }
    return page->second;
  }

  std::vector<std::string> SentPageTokens() const {
    std::vector<std::string> tokens;
    for (const auto& request : list_requests_) {
      tokens.push_back(request.page_token());
    }
    return tokens;
  }
  const std::vector<v1::ListDirectoryRequest>& list_requests() const {
    return list_requests_;
  }
  const std::vector<absl::Duration>& timeouts() const { return timeouts_; }

 private:
  std::map<std::string, v1::ListDirectoryResponse> pages_;
  absl::Status failure_;
  std::vector<v1::ListDirectoryRequest> list_requests_;
  std::vector<absl::Duration> timeouts_;
};

class RunLsTest : public ::testing::Test {
 protected:
  void AddThreePages() {
    client_.AddPage("", {"a", "b"}, "t1");
    client_.AddPage("t1", {"c"}, "t2");
    client_.AddPage("t2", {"d", "e"}, "");
  }
  absl::Status Run(const CallOptions& call, const LsOptions& ls) {
    return RunLs(client_, call, ls, out_, err_);
  }

  FakeFileServiceClient client_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RunLsTest, FollowsEveryPage) {
  AddThreePages();
  LsOptions ls;
  ls.path = "some/dir";
  ls.page_size = 2;
  CallOptions call;
  call.timeout = absl::Milliseconds(250);

  ASSERT_THAT(Run(call, ls), IsOk());
  EXPECT_EQ(out_.str(), "a\nb\nc\nd\ne\n");
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(client_.SentPageTokens(), ElementsAre("", "t1", "t2"));
  for (const v1::ListDirectoryRequest& request : client_.list_requests()) {
    EXPECT_EQ(request.path(), "some/dir");
    EXPECT_EQ(request.page_size(), 2);
  }
  EXPECT_THAT(client_.timeouts(),
              ElementsAre(absl::Milliseconds(250), absl::Milliseconds(250),
                          absl::Milliseconds(250)));
}

TEST_F(RunLsTest, NoFollowPrintsFirstPageAndTokenOnStderr) {
  AddThreePages();
  LsOptions ls;
  ls.follow_pages = false;

  ASSERT_THAT(Run(CallOptions(), ls), IsOk());
  EXPECT_EQ(out_.str(), "a\nb\n");
  EXPECT_EQ(err_.str(), "next_page_token: t1\n");
  EXPECT_THAT(client_.SentPageTokens(), ElementsAre(""));
}

TEST_F(RunLsTest, NoFollowOnLastPagePrintsNoToken) {
  client_.AddPage("", {"only"}, "");
  LsOptions ls;
  ls.follow_pages = false;

  ASSERT_THAT(Run(CallOptions(), ls), IsOk());
  EXPECT_EQ(out_.str(), "only\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RunLsTest, LongFormat) {
  client_.AddPage("", {"x"}, "");
  LsOptions ls;
  ls.long_format = true;

  ASSERT_THAT(Run(CallOptions(), ls), IsOk());
  EXPECT_EQ(out_.str(), "-rw-r--r-- 0 - x\n");
}

TEST_F(RunLsTest, JsonMergesAllPages) {
  AddThreePages();
  CallOptions call;
  call.json = true;

  ASSERT_THAT(Run(call, LsOptions()), IsOk());
  EXPECT_EQ(out_.str(), R"({"entries":[)"
                        R"({"name":"a","type":"TYPE_FILE","mode":420},)"
                        R"({"name":"b","type":"TYPE_FILE","mode":420},)"
                        R"({"name":"c","type":"TYPE_FILE","mode":420},)"
                        R"({"name":"d","type":"TYPE_FILE","mode":420},)"
                        R"({"name":"e","type":"TYPE_FILE","mode":420}]})"
                        "\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RunLsTest, JsonWithoutFollowKeepsTheToken) {
  AddThreePages();
  CallOptions call;
  call.json = true;
  LsOptions ls;
  ls.follow_pages = false;

  ASSERT_THAT(Run(call, ls), IsOk());
  EXPECT_EQ(out_.str(), R"({"entries":[)"
                        R"({"name":"a","type":"TYPE_FILE","mode":420},)"
                        R"({"name":"b","type":"TYPE_FILE","mode":420}],)"
                        R"("nextPageToken":"t1"})"
                        "\n");
  EXPECT_EQ(err_.str(), "next_page_token: t1\n");
}

TEST_F(RunLsTest, EmptyDirectory) {
  client_.AddPage("", {}, "");
  ASSERT_THAT(Run(CallOptions(), LsOptions()), IsOk());
  EXPECT_EQ(out_.str(), "");

  CallOptions call;
  call.json = true;
  ASSERT_THAT(Run(call, LsOptions()), IsOk());
  EXPECT_EQ(out_.str(), "{}\n");
}

TEST_F(RunLsTest, ReturnsTheCallsError) {
  client_.FailWith(absl::NotFoundError("no such directory: foo"));
  const absl::Status status = Run(CallOptions(), LsOptions());
  EXPECT_EQ(status, absl::NotFoundError("no such directory: foo"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RunLsTest, ErrorOnALaterPageKeepsEarlierOutput) {
  client_.AddPage("", {"a"}, "gone");
  const absl::Status status = Run(CallOptions(), LsOptions());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(out_.str(), "a\n");
}

TEST_F(RunLsTest, RepeatedTokenStopsInsteadOfLooping) {
  client_.AddPage("", {"a"}, "t1");
  client_.AddPage("t1", {"b"}, "t1");
  const absl::Status status = Run(CallOptions(), LsOptions());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(client_.SentPageTokens(), ElementsAre("", "t1"));
}

TEST_F(RunLsTest, RestartedListingStopsBeforeRepeatingNames) {
  client_.AddPage("", {"a", "b"}, "t1");
  client_.AddPage("t1", {"a", "b"}, "t2");
  client_.AddPage("t2", {"a", "b"}, "t3");
  const absl::Status status = Run(CallOptions(), LsOptions());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(out_.str(), "a\nb\n");
  EXPECT_THAT(client_.SentPageTokens(), ElementsAre("", "t1"));
}

TEST_F(RunLsTest, EntriesOutOfOrderWithinAPage) {
  client_.AddPage("", {"b", "a"}, "");
  EXPECT_THAT(Run(CallOptions(), LsOptions()),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(out_.str(), "");
}

TEST(RunEchoTest, TextGetsANewline) {
  FakeFileServiceClient client;
  EchoOptions echo;
  echo.text = "hello world";
  std::istringstream in("ignored");
  std::ostringstream out;
  ASSERT_THAT(RunEcho(client, CallOptions(), echo, in, out), IsOk());
  EXPECT_EQ(out.str(), "hello world\n");
}

TEST(RunEchoTest, StdinIsWrittenBackRaw) {
  FakeFileServiceClient client;
  constexpr char kBytes[] = "line\n\0\xFF no newline";
  const std::string bytes(kBytes,
                          sizeof(kBytes) - 1);  // 18 bytes, the NUL inside kept
  std::istringstream in(bytes);
  std::ostringstream out;
  ASSERT_THAT(RunEcho(client, CallOptions(), EchoOptions(), in, out), IsOk());
  EXPECT_EQ(out.str(), bytes);
}

TEST(RunEchoTest, EmptyStdin) {
  FakeFileServiceClient client;
  std::istringstream in("");
  std::ostringstream out;
  ASSERT_THAT(RunEcho(client, CallOptions(), EchoOptions(), in, out), IsOk());
  EXPECT_EQ(out.str(), "");
}

TEST(RunEchoTest, Json) {
  FakeFileServiceClient client;
  EchoOptions echo;
  echo.text = "hi";
  CallOptions call;
  call.json = true;
  std::istringstream in;
  std::ostringstream out;
  ASSERT_THAT(RunEcho(client, call, echo, in, out), IsOk());
  EXPECT_EQ(out.str(), "{\"payload\":\"aGk=\"}\n");
}

TEST(RunEchoTest, ReturnsTheCallsErrorAndPrintsNothing) {
  FakeFileServiceClient client;
  client.FailWith(absl::DeadlineExceededError("Deadline Exceeded"));
  EchoOptions echo;
  echo.text = "hi";
  std::istringstream in;
  std::ostringstream out;
  EXPECT_THAT(RunEcho(client, CallOptions(), echo, in, out),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST(FormatStatusForCliTest, CodeNameColonMessage) {
  EXPECT_EQ(FormatStatusForCli(absl::NotFoundError("no such directory: foo")),
            "NOT_FOUND: no such directory: foo");
  EXPECT_EQ(FormatStatusForCli(absl::InvalidArgumentError("bad token")),
            "INVALID_ARGUMENT: bad token");
  EXPECT_EQ(FormatStatusForCli(absl::UnavailableError("")), "UNAVAILABLE: ");
  EXPECT_EQ(
      FormatStatusForCli(absl::DeadlineExceededError("Deadline Exceeded")),
      "DEADLINE_EXCEEDED: Deadline Exceeded");
}

}  // namespace
}  // namespace dualrpc::cli
