// ListDirectory pages that fit the message limit (issue 12, finding 5), the
// real dualrpc-server on both transports. A client that follows the paging
// contract (next_page_token, never a count) lists every entry exactly once:
//   - 400 symlinks whose 255-byte names and 4095-byte targets are not
//     UTF-8 (~17 KB per entry: text with U+FFFD and raw bytes both sent),
//     ~7 MB in all, at the default page size and --max_message_bytes
//     (4 MiB). Before, the first page failed RESOURCE_EXHAUSTED on both
//     transports.
//   - an ordinary directory under a small --max_message_bytes.
// And an entry too large for the limit on its own fails the call with
// RESOURCE_EXHAUSTED naming it, not with an empty or endless listing.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Le;

constexpr int kLinks = 400;
constexpr int kOrdinary = 300;
constexpr int kDefaultMessageBytes = 4 * 1024 * 1024;
constexpr int kSmallMessageBytes = 16 * 1024;

// The exact bytes of an entry's name.
std::string RawName(const v1::DirectoryEntry& entry) {
  return entry.raw_name().empty() ? entry.name() : entry.raw_name();
}

std::string LinkName(int i) {
  std::string name = absl::StrCat(1000 + i, "\xc3(");
  name.resize(255, '\xff');
  return name;
}

// Every page of a listing, following next_page_token to the end.
struct Listing {
  absl::Status status;
  std::vector<std::string> names;
  std::vector<std::size_t> page_bytes;
  std::vector<v1::DirectoryEntry> entries;
};

Listing ListAll(v1::FileServiceClient& client, const std::string& path) {
  constexpr int kMaxPages = 1000;  // a token that never ends the listing
  Listing listing;
  rpc::CallOptions options;
  options.timeout = absl::Seconds(30);
  v1::ListDirectoryRequest request;
  request.set_path(path);
  for (int page = 0; page < kMaxPages; ++page) {
    absl::StatusOr<v1::ListDirectoryResponse> response =
        client.ListDirectory(request, options);
    if (!response.ok()) {
      listing.status = response.status();
      return listing;
    }
    listing.page_bytes.push_back(response->ByteSizeLong());
    for (v1::DirectoryEntry& entry : *response->mutable_entries()) {
      listing.names.push_back(RawName(entry));
      listing.entries.push_back(std::move(entry));
    }
    if (response->next_page_token().empty()) return listing;
    request.set_page_token(response->next_page_token());
  }
  listing.status = absl::InternalError("listing never ended");
  return listing;
}

class MessageLimitPagingTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ = new dualrpc_testing::TempDir();
    root_->MakeDir("links");
    const std::string target(4095, '\xfe');
    for (int i = 0; i < kLinks; ++i) {
      root_->Symlink(target, "links/" + LinkName(i));
    }
    root_->MakeDir("ordinary");
    root_->MakeFiles("ordinary", kOrdinary, [](int i) {
      return absl::StrCat("file-", 1000 + i, std::string(40, 'x'));
    });
    absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
        dualrpc_testing::StartServer(root_->path());
    ASSERT_THAT(server, IsOk());
    default_server_ = server->release();
    server = dualrpc_testing::StartServer(
        root_->path(),
        {absl::StrCat("--max_message_bytes=", kSmallMessageBytes)});
    ASSERT_THAT(server, IsOk());
    small_server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete default_server_;
    default_server_ = nullptr;
    delete small_server_;
    small_server_ = nullptr;
    delete root_;
    root_ = nullptr;
  }

  // A client of `server` over this test's transport, with the client's
  // default receive limit (4 MiB, the server's default message limit).
  static std::unique_ptr<v1::FileServiceClient> Client(
      dualrpc_testing::ServerProcess* server) {
    if (server == nullptr) {
      ADD_FAILURE() << "no server";
      return nullptr;
    }
    absl::StatusOr<std::string> address = server->Address(GetParam());
    EXPECT_THAT(address, IsOk());
    if (!address.ok()) return nullptr;
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(absl::StrCat(GetParam(), "://", *address));
    EXPECT_THAT(channel, IsOk());
    if (!channel.ok()) return nullptr;
    return std::make_unique<v1::FileServiceClient>(*std::move(channel));
  }

  static void ExpectComplete(const Listing& listing,
                             std::vector<std::string> names,
                             std::size_t limit) {
    ASSERT_THAT(listing.status, IsOk());
    std::sort(names.begin(), names.end());
    // In order, each once: nothing lost or repeated across pages.
    EXPECT_EQ(listing.names, names);
    EXPECT_GT(listing.page_bytes.size(), 1u);
    EXPECT_THAT(listing.page_bytes, Each(Le(limit)));
  }

  static dualrpc_testing::TempDir* root_;
  static dualrpc_testing::ServerProcess* default_server_;
  static dualrpc_testing::ServerProcess* small_server_;
};

dualrpc_testing::TempDir* MessageLimitPagingTest::root_ = nullptr;
dualrpc_testing::ServerProcess* MessageLimitPagingTest::default_server_ =
    nullptr;
dualrpc_testing::ServerProcess* MessageLimitPagingTest::small_server_ =
    nullptr;

TEST_P(MessageLimitPagingTest, LongNonUtf8SymlinksAreListedAtTheDefaults) {
  std::unique_ptr<v1::FileServiceClient> client = Client(default_server_);
  ASSERT_NE(client, nullptr);
  const Listing listing = ListAll(*client, "links");
  std::vector<std::string> names;
  for (int i = 0; i < kLinks; ++i) names.push_back(LinkName(i));
  ASSERT_NO_FATAL_FAILURE(ExpectComplete(listing, names, kDefaultMessageBytes));
  // The bytes survive the trip: raw name and target, and their text forms.
  for (const v1::DirectoryEntry& entry : listing.entries) {
    EXPECT_EQ(entry.type(), v1::DirectoryEntry::TYPE_SYMLINK);
    EXPECT_EQ(entry.raw_symlink_target(), std::string(4095, '\xfe'));
    EXPECT_EQ(entry.symlink_target().size(), 4095u * 3);
  }
  RecordProperty("pages", std::to_string(listing.page_bytes.size()));
}

TEST_P(MessageLimitPagingTest, OrdinaryEntriesAreListedUnderASmallLimit) {
  std::unique_ptr<v1::FileServiceClient> client = Client(small_server_);
  ASSERT_NE(client, nullptr);
  const Listing listing = ListAll(*client, "ordinary");
  std::vector<std::string> names;
  for (int i = 0; i < kOrdinary; ++i) {
    names.push_back(absl::StrCat("file-", 1000 + i, std::string(40, 'x')));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectComplete(listing, names, kSmallMessageBytes));
}

TEST_P(MessageLimitPagingTest, AnEntryLargerThanTheLimitIsNamed) {
  std::unique_ptr<v1::FileServiceClient> client = Client(small_server_);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(
      ListAll(*client, "links").status,
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr("directory entry \"1000\\xc3("),
                     HasSubstr("bytes encoded"),
                     HasSubstr(absl::StrCat("over the message limit of ",
                                            kSmallMessageBytes, " bytes")))));
}

INSTANTIATE_TEST_SUITE_P(Transports, MessageLimitPagingTest,
                         ::testing::Values("raw", "grpc"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dualrpc
