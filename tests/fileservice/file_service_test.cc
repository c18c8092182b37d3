#include "dualrpc/fileservice/file_service.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/fileservice/page_token.h"
#include "dualrpc/fileservice/served_root.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::fileservice {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::dualrpc_testing::TempDir;

constexpr absl::string_view kFffd = "\xEF\xBF\xBD";

std::unique_ptr<FileServiceCore> Serve(const TempDir& tree,
                                       FileServiceOptions options = {}) {
  absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree.path());
  if (!root.ok()) {
    ADD_FAILURE() << root.status();
    return nullptr;
  }
  return std::make_unique<FileServiceCore>(*std::move(root), options);
}

absl::StatusOr<v1::ListDirectoryResponse> List(const FileServiceCore& service,
                                               absl::string_view path,
                                               int32_t page_size = 0,
                                               absl::string_view token = "") {
  v1::ListDirectoryRequest request;
  request.set_path(std::string(path));
  request.set_page_size(page_size);
  request.set_page_token(std::string(token));
  v1::ListDirectoryResponse response;
  absl::Status status = service.ListDirectory(request, &response);
  if (!status.ok()) return status;
  return response;
}

// The exact bytes of an entry's name.
std::string RawName(const v1::DirectoryEntry& entry) {
  return entry.raw_name().empty() ? entry.name() : entry.raw_name();
}

std::vector<std::string> RawNames(const v1::ListDirectoryResponse& response) {
  std::vector<std::string> names;
  for (const v1::DirectoryEntry& entry : response.entries()) {
    names.push_back(RawName(entry));
  }
  return names;
}

// Every page of a listing, following next_page_token to the end.
struct Walk {
  absl::Status status;
  std::vector<std::string> names;
  std::vector<int> page_lengths;
  // Each page's encoded size.
  std::vector<std::size_t> page_bytes;
};

Walk ListAllPages(const FileServiceCore& service, absl::string_view path,
                  int32_t page_size) {
  // Guards against a token that never ends the walk.
  constexpr int kMaxPages = 100000;
  Walk walk;
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    absl::StatusOr<v1::ListDirectoryResponse> response =
        List(service, path, page_size, token);
    if (!response.ok()) {
      walk.status = response.status();
      return walk;
    }
    walk.page_lengths.push_back(response->entries_size());
    walk.page_bytes.push_back(response->ByteSizeLong());
    for (std::string& name : RawNames(*response)) {
      walk.names.push_back(std::move(name));
    }
    token = response->next_page_token();
    if (token.empty()) return walk;
  }
  walk.status = absl::InternalError("listing never ended");
  return walk;
}

class FileServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tree_.path().empty()); }

  TempDir tree_;
};

TEST_F(FileServiceTest, EchoCopiesPayload) {
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  for (const std::string& payload :
       {std::string(), std::string("\0\xff hello", 8),
        std::string(1 << 20, 'x')}) {
    v1::EchoRequest request;
    request.set_payload(payload);
    v1::EchoResponse response;
    ASSERT_THAT(service->Echo(request, &response), IsOk());
    EXPECT_EQ(response.payload(), payload);
  }
}

TEST_F(FileServiceTest, EmptyDirectoryHasNoEntriesAndNoDots) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("empty"));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> response = List(*service, "empty");
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->entries_size(), 0);
  EXPECT_EQ(response->next_page_token(), "");

  absl::StatusOr<v1::ListDirectoryResponse> root = List(*service, "");
  ASSERT_THAT(root, IsOk());
  EXPECT_EQ(RawNames(*root), std::vector<std::string>{"empty"});
}

TEST_F(FileServiceTest, RegularFileIsFailedPrecondition) {
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("file", "x"));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  EXPECT_THAT(List(*service, "file"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FileServiceTest, MissingIsNotFound) {
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  const absl::Status status = List(*service, "missing").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status.message().find(tree_.path()), absl::string_view::npos)
      << status;
}

TEST_F(FileServiceTest, FollowsSymlinkInsideRootAndReportsItUnfollowed) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("subdir"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("subdir/x"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("subdir/y"));
  ASSERT_NO_FATAL_FAILURE(tree_.Symlink("subdir", "link"));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);

  absl::StatusOr<v1::ListDirectoryResponse> through_link =
      List(*service, "link");
  ASSERT_THAT(through_link, IsOk());
  EXPECT_EQ(RawNames(*through_link), (std::vector<std::string>{"x", "y"}));

  absl::StatusOr<v1::ListDirectoryResponse> root = List(*service, "");
  ASSERT_THAT(root, IsOk());
  ASSERT_EQ(RawNames(*root), (std::vector<std::string>{"link", "subdir"}));
  const v1::DirectoryEntry& link = root->entries(0);
  EXPECT_EQ(link.type(), v1::DirectoryEntry::TYPE_SYMLINK);
  EXPECT_EQ(link.symlink_target(), "subdir");
  EXPECT_EQ(link.raw_symlink_target(), "");
  EXPECT_EQ(link.size_bytes(), 6u);
  EXPECT_EQ(root->entries(1).type(), v1::DirectoryEntry::TYPE_DIRECTORY);
}

void SetMtime(const std::string& host_path, int64_t seconds, int64_t nanos) {
  const struct timespec times[2] = {{seconds, nanos}, {seconds, nanos}};
  ASSERT_EQ(
      ::utimensat(AT_FDCWD, host_path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0)
      << host_path;
}

TEST_F(FileServiceTest, ReportsLstatFieldsOfEachEntry) {
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("data.txt", std::string(12345, 'd')));
  ASSERT_EQ(::chmod(tree_.HostPath("data.txt").c_str(), 04751), 0);
  ASSERT_NO_FATAL_FAILURE(
      SetMtime(tree_.HostPath("data.txt"), 1700000000, 123456789));
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("dir", 0750));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("dir/inside"));
  ASSERT_NO_FATAL_FAILURE(SetMtime(tree_.HostPath("dir"), 1600000000, 5));
  ASSERT_EQ(::mkfifo(tree_.HostPath("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(tree_.HostPath("fifo").c_str(), 0600), 0);
  ASSERT_NO_FATAL_FAILURE(tree_.Symlink("data.txt", "link"));
  // Distinct from data.txt's mtime: proves the link itself was stat'ed.
  ASSERT_NO_FATAL_FAILURE(SetMtime(tree_.HostPath("link"), 1500000000, 42));

  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> response = List(*service, ".");
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(RawNames(*response),
            (std::vector<std::string>{"data.txt", "dir", "fifo", "link"}));

  const v1::DirectoryEntry& file = response->entries(0);
  EXPECT_EQ(file.type(), v1::DirectoryEntry::TYPE_FILE);
  EXPECT_EQ(file.size_bytes(), 12345u);
  EXPECT_EQ(file.mode(), 04751u);
  EXPECT_EQ(file.modify_time().seconds(), 1700000000);
  EXPECT_EQ(file.modify_time().nanos(), 123456789);
  EXPECT_EQ(file.symlink_target(), "");
  EXPECT_EQ(file.raw_name(), "");

  const v1::DirectoryEntry& dir = response->entries(1);
  EXPECT_EQ(dir.type(), v1::DirectoryEntry::TYPE_DIRECTORY);
  EXPECT_EQ(dir.mode(), 0750u);
  EXPECT_EQ(dir.modify_time().seconds(), 1600000000);
  EXPECT_EQ(dir.modify_time().nanos(), 5);

  const v1::DirectoryEntry& fifo = response->entries(2);
  EXPECT_EQ(fifo.type(), v1::DirectoryEntry::TYPE_OTHER);
  EXPECT_EQ(fifo.mode(), 0600u);

  const v1::DirectoryEntry& link = response->entries(3);
  EXPECT_EQ(link.type(), v1::DirectoryEntry::TYPE_SYMLINK);
  EXPECT_EQ(link.size_bytes(), 8u);  // strlen("data.txt")
  EXPECT_EQ(link.mode(), 0777u);
  EXPECT_EQ(link.modify_time().seconds(), 1500000000);
  EXPECT_EQ(link.modify_time().nanos(), 42);
  EXPECT_EQ(link.symlink_target(), "data.txt");
}

TEST_F(FileServiceTest, ReplacesInvalidUtf8AndKeepsRawBytes) {
  struct Case {
    std::string raw;
    std::string expected_name;  // Equal to `raw` when it is valid UTF-8.
  };
  const std::string r(kFffd);
  const std::vector<Case> cases = {
      {"\xff\xfe", r + r},
      {"a\xe2\x82", "a" + r},                      // Truncated 3-byte sequence.
      {"b\xe2\x82z", "b" + r + "z"},               // ... followed by ASCII.
      {"c\xf0\x9f\x98", "c" + r},                  // Truncated 4-byte sequence.
      {"d\xc0\xaf", "d" + r + r},                  // Overlong '/'.
      {"e\xed\xa0\x80", "e" + r + r + r},          // UTF-16 surrogate.
      {"f\xf4\x90\x80\x80", "f" + r + r + r + r},  // Above U+10FFFF.
      {"g\x80", "g" + r},                          // Lone continuation byte.
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"smile\xf0\x9f\x98\x80", "smile\xf0\x9f\x98\x80"},
  };
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("names"));
  for (const Case& c : cases) {
    ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("names/" + c.raw));
  }
  ASSERT_NO_FATAL_FAILURE(
      tree_.Symlink("\xff"
                    "A",
                    "names/zz_link"));

  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> response = List(*service, "names");
  ASSERT_THAT(response, IsOk());
  std::map<std::string, v1::DirectoryEntry> by_raw;
  for (const v1::DirectoryEntry& entry : response->entries()) {
    by_raw[RawName(entry)] = entry;
  }
  ASSERT_EQ(by_raw.size(), cases.size() + 1);
  for (const Case& c : cases) {
    ASSERT_EQ(by_raw.count(c.raw), 1u) << absl::CHexEscape(c.raw);
    const v1::DirectoryEntry& entry = by_raw[c.raw];
    EXPECT_EQ(entry.name(), c.expected_name) << absl::CHexEscape(c.raw);
    const bool valid = c.raw == c.expected_name;
    EXPECT_EQ(entry.raw_name(), valid ? "" : c.raw) << absl::CHexEscape(c.raw);
  }
  const v1::DirectoryEntry& link = by_raw["zz_link"];
  EXPECT_EQ(link.type(), v1::DirectoryEntry::TYPE_SYMLINK);
  EXPECT_EQ(link.symlink_target(), r + "A");
  EXPECT_EQ(link.raw_symlink_target(),
            "\xff"
            "A");
}

TEST_F(FileServiceTest, NegativePageSizeIsInvalidArgument) {
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  for (int32_t page_size : {-1, std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(List(*service, "", page_size).status().code(),
              absl::StatusCode::kInvalidArgument)
        << page_size;
  }
}

TEST_F(FileServiceTest, HonoursConfiguredPageSizeLimits) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("d"));
  ASSERT_NO_FATAL_FAILURE(tree_.MakeFiles(
      "d", 120, [](int i) { return absl::StrCat("f", 1000 + i); }));
  FileServiceOptions options;
  options.default_page_size = 7;
  options.max_page_size = 50;
  std::unique_ptr<FileServiceCore> service = Serve(tree_, options);
  ASSERT_NE(service, nullptr);
  const std::vector<std::pair<int32_t, int>> expected_lengths = {
      {0, 7},
      {1, 1},
      {49, 49},
      {50, 50},
      {51, 50},
      {20000, 50},
      {std::numeric_limits<int32_t>::max(), 50}};
  for (const auto& [page_size, length] : expected_lengths) {
    absl::StatusOr<v1::ListDirectoryResponse> response =
        List(*service, "d", page_size);
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(response->entries_size(), length) << page_size;
    EXPECT_NE(response->next_page_token(), "") << page_size;
  }
}

TEST_F(FileServiceTest, GarbageTokenIsInvalidArgument) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("a"));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  for (absl::string_view token : {"garbage!", "AAAA", "%00", "eyJ9"}) {
    const absl::Status status = List(*service, "a", 0, token).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << token << ": " << status;
  }
}

TEST_F(FileServiceTest, TokenIsBoundToItsPath) {
  for (absl::string_view dir : {"a", "b"}) {
    ASSERT_NO_FATAL_FAILURE(tree_.MakeDir(dir));
    ASSERT_NO_FATAL_FAILURE(
        tree_.MakeFiles(dir, 3, [](int i) { return absl::StrCat("f", i); }));
  }
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);

  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "a", 1);
  ASSERT_THAT(first, IsOk());
  ASSERT_NE(first->next_page_token(), "");
  EXPECT_THAT(List(*service, "b", 1, first->next_page_token()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(List(*service, "a", 1, first->next_page_token()), IsOk());
}

TEST_F(FileServiceTest, RootTokenWorksForEmptyAndDot) {
  ASSERT_NO_FATAL_FAILURE(
      tree_.MakeFiles(".", 3, [](int i) { return absl::StrCat("f", i); }));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "", 1);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::ListDirectoryResponse> second =
      List(*service, ".", 1, first->next_page_token());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(RawNames(*second), std::vector<std::string>{"f1"});
}

// The token names the last entry returned, not a position: entries that
// appear, vanish or are renamed between pages are seen iff they sort after it.
TEST_F(FileServiceTest, NextPageStartsAfterLastNameEvenIfDirectoryChanged) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("d"));
  ASSERT_NO_FATAL_FAILURE(
      tree_.MakeFiles("d", 10, [](int i) { return absl::StrCat("f", i); }));
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);

  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "d", 3);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(RawNames(*first), (std::vector<std::string>{"f0", "f1", "f2"}));

  ASSERT_EQ(::unlink(tree_.HostPath("d/f2").c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/f1a"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/f25"));
  absl::StatusOr<v1::ListDirectoryResponse> second =
      List(*service, "d", 3, first->next_page_token());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(RawNames(*second), (std::vector<std::string>{"f25", "f3", "f4"}));
}

// Runs as an unprivileged user in a forked child and reports through its exit
// status: 0 if "." lists and "locked" is PERMISSION_DENIED. `service` was
// opened before the privilege drop, as a server opens its root at startup.
int ListLockedAsNobody(const FileServiceCore& service) {
  constexpr uid_t kNobody = 65534;
  if (::setgroups(0, nullptr) != 0) return 2;
  if (::setresgid(kNobody, kNobody, kNobody) != 0) return 3;
  if (::setresuid(kNobody, kNobody, kNobody) != 0) return 4;
  if (!List(service, ".").ok()) return 5;
  const absl::StatusCode code = List(service, "locked").status().code();
  return code == absl::StatusCode::kPermissionDenied
             ? 0
             : 10 + static_cast<int>(code);
}

TEST_F(FileServiceTest, UnreadableDirectoryIsPermissionDenied) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("locked"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("locked/secret"));
  ASSERT_EQ(::chmod(tree_.HostPath("locked").c_str(), 0), 0);
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);

  if (::geteuid() != 0) {
    const absl::Status status = List(*service, "locked").status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied));
    // Let the tree be removed.
    ASSERT_EQ(::chmod(tree_.HostPath("locked").c_str(), 0755), 0);
    return;
  }
  // Root ignores permission bits: ask as nobody instead.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(ListLockedAsNobody(*service));
  int wait_status = 0;
  ASSERT_EQ(::waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFEXITED(wait_status)) << wait_status;
  EXPECT_EQ(WEXITSTATUS(wait_status), 0)
      << "2-4: could not drop privileges; 5: could not list the root as "
         "nobody; 10+N: \"locked\" gave status code N";
}

// A directory of kBigCount files, built once for the paging tests (one suite,
// so that it is built once per process). The names are not in creation
// order, mix lengths, and include bytes >= 0x80, which must sort after ASCII
// (unsigned byte order).
class FileServicePagingTest : public ::testing::Test {
 protected:
  static constexpr int kBigCount = 10000;

  static std::string BigName(int i) {
    const int k = static_cast<int>((int64_t{i} * 7919) % kBigCount);
    static constexpr absl::string_view kPrefixes[] = {"Z", "a", "\xc3\xa9"};
    return absl::StrCat(kPrefixes[k % 3], k);
  }

  static void SetUpTestSuite() {
    tree_ = new TempDir();
    ASSERT_NO_FATAL_FAILURE(tree_->MakeDir("big"));
    ASSERT_NO_FATAL_FAILURE(tree_->MakeFiles("big", kBigCount, BigName));
    service_ = Serve(*tree_).release();
  }

  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
    delete tree_;
    tree_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(service_, nullptr); }

  static std::vector<std::string> SortedBigNames() {
    std::vector<std::string> names;
    for (int i = 0; i < kBigCount; ++i) names.push_back(BigName(i));
    std::sort(names.begin(), names.end());
    return names;
  }

  static TempDir* tree_;
  static FileServiceCore* service_;
};

TempDir* FileServicePagingTest::tree_ = nullptr;
FileServiceCore* FileServicePagingTest::service_ = nullptr;

TEST_F(FileServicePagingTest, ReturnsEveryEntryOnceInByteOrder) {
  const std::vector<std::string> sorted = SortedBigNames();
  for (int32_t page_size : {1000, 333, 9999, 10000}) {
    SCOPED_TRACE(absl::StrCat("page_size ", page_size));
    const Walk walk = ListAllPages(*service_, "big", page_size);
    ASSERT_THAT(walk.status, IsOk());

    // Strictly increasing implies no duplicates.
    for (std::size_t i = 1; i < walk.names.size(); ++i) {
      ASSERT_LT(walk.names[i - 1], walk.names[i]) << "at " << i;
    }
    EXPECT_EQ(walk.names, sorted);

    // Full pages, then the remainder; the last page carries no token (the
    // walk ends), even when it is full.
    std::vector<int> expected_lengths(kBigCount / page_size, page_size);
    if (kBigCount % page_size != 0) {
      expected_lengths.push_back(kBigCount % page_size);
    }
    EXPECT_EQ(walk.page_lengths, expected_lengths);
  }
}

// The same walk through the listing cache (settle 0, so the freshly built
// directory is cached at once) and through the fallback for directories too
// large for the cache: identical results.
TEST_F(FileServicePagingTest, CachedAndOversizedListingsMatchTheStreamingOne) {
  const std::vector<std::string> sorted = SortedBigNames();
  FileServiceOptions cached;
  cached.listing_cache_settle = absl::ZeroDuration();
  FileServiceOptions too_small = cached;
  too_small.listing_cache_names = 100;
  FileServiceOptions no_cache;
  no_cache.listing_cache_names = 0;
  for (const FileServiceOptions& options : {cached, too_small, no_cache}) {
    SCOPED_TRACE(absl::StrCat("cache names ", options.listing_cache_names));
    std::unique_ptr<FileServiceCore> service = Serve(*tree_, options);
    ASSERT_NE(service, nullptr);
    for (int32_t page_size : {333, 10000}) {
      const Walk walk = ListAllPages(*service, "big", page_size);
      ASSERT_THAT(walk.status, IsOk());
      EXPECT_EQ(walk.names, sorted) << "page_size " << page_size;
    }
  }
}

// A change between pages invalidates the cached listing: the directory's
// timestamps are moved explicitly, so the test does not depend on the clock
// ticking between the two operations.
TEST(FileServiceListingCacheTest, ChangeBetweenPagesIsSeen) {
  TempDir tree;
  ASSERT_NO_FATAL_FAILURE(tree.MakeDir("dir"));
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_NO_FATAL_FAILURE(tree.WriteFile(absl::StrCat("dir/", name)));
  }
  FileServiceOptions options;
  options.listing_cache_settle = absl::ZeroDuration();
  std::unique_ptr<FileServiceCore> service = Serve(tree, options);
  ASSERT_NE(service, nullptr);

  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "dir", 1);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(RawNames(*first), std::vector<std::string>{"a"});

  ASSERT_NO_FATAL_FAILURE(tree.WriteFile("dir/bb"));
  const timespec later[2] = {{4000000000, 0}, {4000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, tree.HostPath("dir").c_str(), later, 0), 0);

  absl::StatusOr<v1::ListDirectoryResponse> rest =
      List(*service, "dir", 10, first->next_page_token());
  ASSERT_THAT(rest, IsOk());
  EXPECT_EQ(RawNames(*rest), (std::vector<std::string>{"b", "bb", "c"}));
}

TEST_F(FileServicePagingTest, PageSizeZeroMeansDefault) {
  const int default_page_size = FileServiceOptions().default_page_size;
  absl::StatusOr<v1::ListDirectoryResponse> response =
      List(*service_, "big", 0);
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->entries_size(), default_page_size);
  EXPECT_NE(response->next_page_token(), "");
  const std::vector<std::string> sorted = SortedBigNames();
  EXPECT_EQ(RawNames(*response),
            std::vector<std::string>(sorted.begin(),
                                     sorted.begin() + default_page_size));
}

TEST(FileServiceCoercionTest, LargePageSizeIsCoercedToMax) {
  const int32_t max = FileServiceOptions().max_page_size;
  TempDir tree;
  ASSERT_NO_FATAL_FAILURE(tree.MakeDir("d"));
  ASSERT_NO_FATAL_FAILURE(
      tree.MakeFiles("d", max + 1, [](int i) { return absl::StrCat("g", i); }));
  std::unique_ptr<FileServiceCore> service = Serve(tree);
  ASSERT_NE(service, nullptr);

  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "d", 20000);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->entries_size(), max);
  ASSERT_NE(first->next_page_token(), "");

  absl::StatusOr<v1::ListDirectoryResponse> second =
      List(*service, "d", 20000, first->next_page_token());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->entries_size(), 1);
  EXPECT_EQ(second->next_page_token(), "");
}

}  // namespace
}  // namespace dualrpc::fileservice

namespace dualrpc::fileservice {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::SizeIs;

// Issue 12, finding 5: pages that fit the message limit.
class FileServiceMessageLimitTest : public ::testing::Test {
 protected:
  // Checks that `walk` listed exactly `names` (sorted), each once, over
  // more than one page, with every page within `limit` bytes.
  static void ExpectCompleteWithinLimit(const Walk& walk,
                                        std::vector<std::string> names,
                                        std::size_t limit) {
    ASSERT_THAT(walk.status, IsOk());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(walk.names, names);
    EXPECT_GT(walk.page_lengths.size(), 1u);
    EXPECT_THAT(walk.page_bytes, Each(Le(limit)));
  }

  TempDir tree_;
};

// The directory: 400 symlinks whose 255-byte names and 4095-byte
// targets are not UTF-8 (~17 KB per entry with text and raw bytes), ~7 MB
// in all, listed at the default page size (1000) under the default 4 MiB
// limit. Before, the first page held all 400 and no transport could send it.
TEST_F(FileServiceMessageLimitTest, LongNonUtf8SymlinksAreListedInPagesThatFit) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("links"));
  std::vector<std::string> names;
  const std::string target(4095, '\xfe');
  for (int i = 0; i < 400; ++i) {
    std::string name = absl::StrCat(1000 + i, "\xc3(");
    name.resize(255, '\xff');
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink(target, "links/" + name));
    names.push_back(std::move(name));
  }
  const FileServiceOptions defaults;
  std::unique_ptr<FileServiceCore> service = Serve(tree_);
  ASSERT_NE(service, nullptr);
  const Walk walk = ListAllPages(*service, "links", /*page_size=*/0);
  ASSERT_NO_FATAL_FAILURE(
      ExpectCompleteWithinLimit(walk, names, defaults.max_response_bytes));
  // Pages are cut by size, not by a smaller count: each but the last is
  // within one entry (~17 KB, with its token) of the limit.
  for (std::size_t i = 0; i + 1 < walk.page_bytes.size(); ++i) {
    EXPECT_GT(walk.page_bytes[i], defaults.max_response_bytes - 20000) << i;
  }
}

// The same with a small limit on an ordinary directory, through every way a
// page's names are found (cache, cache too small, no cache), and with an
// explicit page size that the limit cuts short.
TEST_F(FileServiceMessageLimitTest, ASmallLimitCutsPagesOfOrdinaryEntries) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("d"));
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) {
    names.push_back(absl::StrCat("file-", 1000 + i, std::string(40, 'x')));
  }
  ASSERT_NO_FATAL_FAILURE(tree_.MakeFiles(
      "d", static_cast<int>(names.size()), [&](int i) { return names[i]; }));
  constexpr std::size_t kLimit = 2048;
  FileServiceOptions cached;
  cached.max_response_bytes = kLimit;
  cached.listing_cache_settle = absl::ZeroDuration();
  FileServiceOptions too_small = cached;
  too_small.listing_cache_names = 10;
  FileServiceOptions no_cache = cached;
  no_cache.listing_cache_names = 0;
  for (const FileServiceOptions& options : {cached, too_small, no_cache}) {
    SCOPED_TRACE(absl::StrCat("cache names ", options.listing_cache_names));
    std::unique_ptr<FileServiceCore> service = Serve(tree_, options);
    ASSERT_NE(service, nullptr);
    for (int32_t page_size : {0, 50}) {
      SCOPED_TRACE(absl::StrCat("page_size ", page_size));
      const Walk walk = ListAllPages(*service, "d", page_size);
      ASSERT_NO_FATAL_FAILURE(ExpectCompleteWithinLimit(walk, names, kLimit));
      // ~75 bytes an entry: the limit, not page_size, ends the pages.
      EXPECT_THAT(walk.page_lengths, Each(Le(kLimit / 60)));
    }
  }
}

// An entry that cannot fit alone: the pages before it are listed, then the
// call fails with RESOURCE_EXHAUSTED naming it and its size (not an empty
// page, which would never end, nor a skip, which would lose it).
TEST_F(FileServiceMessageLimitTest, AnEntryTooLargeForTheLimitIsNamed) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("d"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/a"));
  ASSERT_NO_FATAL_FAILURE(tree_.Symlink(std::string(1000, 't'), "d/big"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/c"));
  FileServiceOptions options;
  options.max_response_bytes = 500;
  std::unique_ptr<FileServiceCore> service = Serve(tree_, options);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> first = List(*service, "d");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(RawNames(*first), std::vector<std::string>{"a"});
  ASSERT_FALSE(first->next_page_token().empty());
  EXPECT_THAT(
      List(*service, "d", 0, first->next_page_token()),
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr("\"big\""), HasSubstr("bytes encoded"),
                     HasSubstr("over the message limit of 500 bytes"))));
  // A page of one changes nothing: the entry is still too large.
  EXPECT_THAT(List(*service, "d", 1, EncodePageToken({"d", "a"})),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

// The limit counts the token: an entry that fits alone but not with the
// token after it ends the page before it, and the last entry of a listing,
// which needs no token, may use the whole limit.
TEST_F(FileServiceMessageLimitTest, TheTokenCountsAgainstTheLimit) {
  ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("d"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/a"));
  ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("d/b"));
  std::unique_ptr<FileServiceCore> unlimited = [&] {
    FileServiceOptions options;
    options.max_response_bytes = 0;
    return Serve(tree_, options);
  }();
  ASSERT_NE(unlimited, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> whole = List(*unlimited, "d");
  ASSERT_THAT(whole, IsOk());
  ASSERT_THAT(whole->entries(), SizeIs(2));
  absl::StatusOr<v1::ListDirectoryResponse> first_only =
      List(*unlimited, "d", 1);
  ASSERT_THAT(first_only, IsOk());
  // A limit that holds both entries exactly (the listing's end: no token).
  FileServiceOptions exact;
  exact.max_response_bytes = whole->ByteSizeLong();
  std::unique_ptr<FileServiceCore> service = Serve(tree_, exact);
  ASSERT_NE(service, nullptr);
  absl::StatusOr<v1::ListDirectoryResponse> page = List(*service, "d");
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->entries(), SizeIs(2));
  EXPECT_TRUE(page->next_page_token().empty());
  // One byte less: "a" and its token, then "b".
  exact.max_response_bytes = whole->ByteSizeLong() - 1;
  service = Serve(tree_, exact);
  ASSERT_NE(service, nullptr);
  const Walk walk = ListAllPages(*service, "d", 0);
  ASSERT_THAT(walk.status, IsOk());
  EXPECT_EQ(walk.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(walk.page_lengths, (std::vector<int>{1, 1}));
  // "a" with its token is exactly what a page of one with a token takes.
  EXPECT_EQ(walk.page_bytes[0], first_only->ByteSizeLong());
  EXPECT_THAT(walk.page_bytes, Each(Le(exact.max_response_bytes)));
}

}  // namespace
}  // namespace dualrpc::fileservice
