#include "dualrpc/fileservice/tree_walker.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/fileservice/served_root.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::fileservice {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// One entry as the tests compare it: "path depth type[!code]".
std::string Describe(const v1::TreeEntry& entry) {
  const char* type = "?";
  switch (entry.entry().type()) {
    case v1::DirectoryEntry::TYPE_FILE: type = "f"; break;
    case v1::DirectoryEntry::TYPE_DIRECTORY: type = "d"; break;
    case v1::DirectoryEntry::TYPE_SYMLINK: type = "l"; break;
    default: break;
  }
  std::string out = absl::StrCat(entry.path(), " ", entry.depth(), " ", type);
  if (entry.has_error()) absl::StrAppend(&out, "!", entry.error().code());
  return out;
}

class TreeWalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree_.path());
    ASSERT_THAT(root.status(), IsOk());
    root_.emplace(*std::move(root));
  }

  absl::StatusOr<TreeWalker> Start(absl::string_view path,
                                   std::uint32_t max_depth = 0,
                                   TreeWalkerOptions options = {}) {
    v1::WalkTreeRequest request;
    request.set_path(std::string(path));
    request.set_max_depth(max_depth);
    return TreeWalker::Start(*root_, request, std::move(options));
  }

  // The whole walk, in batches of `batch_entries`; every batch is checked
  // against the limits.
  std::vector<v1::TreeEntry> WalkAll(TreeWalker& walker,
                                     std::size_t batch_entries = 256,
                                     std::size_t batch_bytes = 1 << 20) {
    std::vector<v1::TreeEntry> all;
    for (int batches = 0; batches < 1000000; ++batches) {
      v1::WalkTreeResponse batch;
      absl::StatusOr<bool> more =
          walker.NextBatch(batch_entries, batch_bytes, &batch);
      EXPECT_THAT(more.status(), IsOk());
      if (!more.ok()) break;
      EXPECT_LE(static_cast<std::size_t>(batch.entries_size()), batch_entries);
      if (*more) {
        EXPECT_GT(batch.entries_size(), 0);
      }
      for (v1::TreeEntry& entry : *batch.mutable_entries()) {
        all.push_back(std::move(entry));
      }
      if (!*more) break;
    }
    return all;
  }

  std::vector<std::string> Walk(absl::string_view path,
                                std::uint32_t max_depth = 0,
                                TreeWalkerOptions options = {}) {
    absl::StatusOr<TreeWalker> walker =
        Start(path, max_depth, std::move(options));
    EXPECT_THAT(walker.status(), IsOk());
    if (!walker.ok()) return {};
    std::vector<std::string> out;
    for (const v1::TreeEntry& entry : WalkAll(*walker)) {
      out.push_back(Describe(entry));
    }
    return out;
  }

  // b/ (c, d/ (e)), a, B, "a b"
  void MakeKnownTree() {
    tree_.MakeDir("b");
    tree_.WriteFile("b/c", "12345");
    tree_.MakeDir("b/d");
    tree_.WriteFile("b/d/e");
    tree_.WriteFile("a");
    tree_.WriteFile("B");
    tree_.WriteFile("a b");
  }

  TempDir tree_;
  std::optional<ServedRoot> root_;
};

TEST_F(TreeWalkerTest, DepthFirstByteOrderDirectoryBeforeItsContents) {
  ASSERT_NO_FATAL_FAILURE(MakeKnownTree());
  EXPECT_THAT(Walk(""), ElementsAre("B 1 f", "a 1 f", "a b 1 f", "b 1 d",
                                    "b/c 2 f", "b/d 2 d", "b/d/e 3 f"));
  EXPECT_EQ(Walk("."), Walk(""));
}

TEST_F(TreeWalkerTest, EntriesAreListDirectorysEntries) {
  ASSERT_NO_FATAL_FAILURE(MakeKnownTree());
  absl::StatusOr<TreeWalker> walker = Start("b");
  ASSERT_THAT(walker.status(), IsOk());
  std::vector<v1::TreeEntry> all = WalkAll(*walker);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path(), "b/c");
  EXPECT_EQ(all[0].entry().name(), "c");
  EXPECT_EQ(all[0].entry().size_bytes(), 5u);
  EXPECT_GT(all[0].entry().modify_time().seconds(), 0);
  EXPECT_FALSE(all[0].has_error());
}

TEST_F(TreeWalkerTest, PathsAreRelativeToTheServedRoot) {
  ASSERT_NO_FATAL_FAILURE(MakeKnownTree());
  EXPECT_THAT(Walk("b"), ElementsAre("b/c 1 f", "b/d 1 d", "b/d/e 2 f"));
  EXPECT_THAT(Walk("b/"), ElementsAre("b/c 1 f", "b/d 1 d", "b/d/e 2 f"));
  EXPECT_THAT(Walk("b/d"), ElementsAre("b/d/e 1 f"));
}

TEST_F(TreeWalkerTest, MaxDepthStopsDescending) {
  ASSERT_NO_FATAL_FAILURE(MakeKnownTree());
  EXPECT_THAT(Walk("", 1), ElementsAre("B 1 f", "a 1 f", "a b 1 f", "b 1 d"));
  EXPECT_THAT(Walk("", 2), ElementsAre("B 1 f", "a 1 f", "a b 1 f", "b 1 d",
                                       "b/c 2 f", "b/d 2 d"));
  EXPECT_EQ(Walk("", 3), Walk("", 0));
}

TEST_F(TreeWalkerTest, EmptyDirectoryIsAnEmptyWalk) {
  absl::StatusOr<TreeWalker> walker = Start("");
  ASSERT_THAT(walker.status(), IsOk());
  v1::WalkTreeResponse batch;
  EXPECT_THAT(walker->NextBatch(10, 1000, &batch), IsOkAndHolds(false));
  EXPECT_THAT(batch.entries(), IsEmpty());
}

TEST_F(TreeWalkerTest, SymlinksAreReportedNeverFollowed) {
  tree_.MakeDir("d");
  tree_.WriteFile("d/inside");
  tree_.Symlink("d", "to_d");
  tree_.Symlink("..", "d/up");    // a loop, if it were followed
  tree_.Symlink("self", "self");  // ELOOP, if it were resolved
  tree_.Symlink("/", "out");      // outside the root
  EXPECT_THAT(Walk(""), ElementsAre("d 1 d", "d/inside 2 f", "d/up 2 l",
                                    "out 1 l", "self 1 l", "to_d 1 l"));
  absl::StatusOr<TreeWalker> walker = Start("");
  ASSERT_THAT(walker.status(), IsOk());
  std::vector<v1::TreeEntry> all = WalkAll(*walker);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[5].entry().symlink_target(), "d");
}

TEST_F(TreeWalkerTest, NonUtf8NamesKeepTheirBytesInRawPath) {
  tree_.MakeDir("d\xff");
  tree_.WriteFile("d\xff/ok");
  absl::StatusOr<TreeWalker> walker = Start("");
  ASSERT_THAT(walker.status(), IsOk());
  std::vector<v1::TreeEntry> all = WalkAll(*walker);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].path(), "d\xEF\xBF\xBD");
  EXPECT_EQ(all[0].raw_path(), "d\xff");
  EXPECT_EQ(all[0].entry().raw_name(), "d\xff");
  EXPECT_EQ(all[1].path(), "d\xEF\xBF\xBD/ok");
  EXPECT_EQ(all[1].raw_path(), "d\xff/ok");
  EXPECT_EQ(all[1].entry().name(), "ok");
  EXPECT_EQ(all[1].entry().raw_name(), "");
}

TEST_F(TreeWalkerTest, StartPathFailsWithListDirectorysCodes) {
  tree_.WriteFile("file");
  tree_.Symlink("/", "out");
  EXPECT_THAT(Start("..").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Start("out").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Start("/etc").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Start(std::string("a\0b", 3)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Start("missing").status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Start("file").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(TreeWalkerTest, UnreadableDirectoryIsAnErrorEntryAndTheWalkGoesOn) {
  tree_.MakeDir("a");
  tree_.MakeDir("b", 0);
  tree_.WriteFile("c");
  const std::vector<std::string> expected = {"a 1 d", "b 1 d!7", "c 1 f"};
  if (::geteuid() != 0) {
    EXPECT_EQ(Walk(""), expected);
    ::chmod(tree_.HostPath("b").c_str(), 0755);  // so TempDir can remove it
    return;
  }
  // Root ignores permission bits: walk as nobody in a forked child, which
  // reports through its exit status (the root was opened before the drop, as
  // a server opens its root at startup).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    constexpr uid_t kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 ||
        ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(2);
    }
    ::_exit(Walk("") == expected ? 0 : 1);
  }
  int wait_status = 0;
  ASSERT_EQ(::waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFEXITED(wait_status)) << wait_status;
  EXPECT_EQ(WEXITSTATUS(wait_status), 0)
      << "1: the walk as nobody was not " << ::testing::PrintToString(expected)
      << "; 2: could not drop privileges";
  ::chmod(tree_.HostPath("b").c_str(), 0755);
}

TEST_F(TreeWalkerTest, InjectedOpenFailureIsAnErrorEntryAndTheWalkGoesOn) {
  tree_.MakeDir("a");
  tree_.MakeDir("b");
  tree_.WriteFile("b/hidden");
  tree_.MakeDir("c");
  tree_.WriteFile("c/seen");
  TreeWalkerOptions options;
  options.open_subdirectory = [](int parent_fd, const char* name, int flags) {
    if (absl::string_view(name) == "b") {
      errno = ENOENT;  // removed between the lstat and the open
      return -1;
    }
    return ::openat(parent_fd, name, flags);
  };
  EXPECT_THAT(Walk("", 0, options),
              ElementsAre("a 1 d", "b 1 d!5", "c 1 d", "c/seen 2 f"));
  absl::StatusOr<TreeWalker> walker = Start("", 0, options);
  ASSERT_THAT(walker.status(), IsOk());
  std::vector<v1::TreeEntry> all = WalkAll(*walker);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[1].error().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(all[1].error().message(), ::testing::HasSubstr("\"b\""));
  // The message names the peer's path, never the host's.
  EXPECT_THAT(all[1].error().message(),
              ::testing::Not(::testing::HasSubstr(tree_.path())));
}

TEST_F(TreeWalkerTest, SubdirectoryRemovedDuringTheWalkIsSkipped) {
  tree_.MakeDir("a");
  tree_.WriteFile("a/x");
  tree_.MakeDir("b");
  tree_.WriteFile("b/y");
  tree_.WriteFile("c");
  absl::StatusOr<TreeWalker> walker = Start("");
  ASSERT_THAT(walker.status(), IsOk());
  v1::WalkTreeResponse first;
  ASSERT_THAT(walker->NextBatch(1, 1 << 20, &first), IsOkAndHolds(true));
  ASSERT_EQ(first.entries_size(), 1);
  EXPECT_EQ(first.entries(0).path(), "a");
  // The root's names were read already; b goes before the walk reaches it.
  ASSERT_EQ(::unlink(tree_.HostPath("b/y").c_str()), 0);
  ASSERT_EQ(::rmdir(tree_.HostPath("b").c_str()), 0);
  std::vector<std::string> rest;
  for (const v1::TreeEntry& entry : WalkAll(*walker)) {
    rest.push_back(Describe(entry));
  }
  EXPECT_THAT(rest, ElementsAre("a/x 2 f", "c 1 f"));
}

TEST_F(TreeWalkerTest, TooManyOpenDirectoriesIsAnErrorEntry) {
  tree_.MakeDir("1");
  tree_.MakeDir("1/2");
  tree_.MakeDir("1/2/3");
  tree_.WriteFile("1/2/3/deep");
  tree_.WriteFile("1/2/beside");
  TreeWalkerOptions options;
  options.max_open_directories = 3;  // the root, 1 and 1/2
  EXPECT_THAT(Walk("", 0, options),
              ElementsAre("1 1 d", "1/2 2 d", "1/2/3 3 d!8", "1/2/beside 3 f"));
}

TEST_F(TreeWalkerTest, BatchesKeepToTheirLimitsAndMakeTheSameWalk) {
  ASSERT_NO_FATAL_FAILURE(MakeKnownTree());
  const std::vector<std::string> whole = Walk("");
  for (std::size_t entries : {1, 2, 3, 100}) {
    absl::StatusOr<TreeWalker> walker = Start("");
    ASSERT_THAT(walker.status(), IsOk());
    std::vector<std::string> joined;
    for (const v1::TreeEntry& entry : WalkAll(*walker, entries)) {
      joined.push_back(Describe(entry));
    }
    EXPECT_EQ(joined, whole) << entries;
  }
  // A byte limit below one entry still makes progress, one entry a batch.
  absl::StatusOr<TreeWalker> walker = Start("");
  ASSERT_THAT(walker.status(), IsOk());
  v1::WalkTreeResponse batch;
  ASSERT_THAT(walker->NextBatch(100, 1, &batch), IsOkAndHolds(true));
  EXPECT_EQ(batch.entries_size(), 1);
}

}  // namespace
}  // namespace dualrpc::fileservice
