#include "dualrpc/fileservice/served_root.h"

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "dualrpc/fileservice/file_service.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::fileservice {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::dualrpc_testing::TempDir;

// The tree every test here serves:
//   a/                 a/link_up_two -> ../..
//   sub/x              link_to_sub -> sub
//   file               link_to_root -> /
//   link_to_parent -> ..
//   abs_link_inside -> <host path of the tree>/sub
//   loop_a -> loop_b   loop_b -> loop_a
class ServedRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tree_.path().empty());
    ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("a"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("../..", "a/link_up_two"));
    ASSERT_NO_FATAL_FAILURE(tree_.MakeDir("sub"));
    ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("sub/x", "x"));
    ASSERT_NO_FATAL_FAILURE(tree_.WriteFile("file", "contents"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("sub", "link_to_sub"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("/", "link_to_root"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("..", "link_to_parent"));
    ASSERT_NO_FATAL_FAILURE(
        tree_.Symlink(tree_.HostPath("sub"), "abs_link_inside"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("loop_b", "loop_a"));
    ASSERT_NO_FATAL_FAILURE(tree_.Symlink("loop_a", "loop_b"));

    absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree_.path());
    ASSERT_THAT(root, IsOk());
    root_.emplace(*std::move(root));
  }

  // Inode of the host path `relative` inside the tree, following symlinks.
  ino_t InodeOf(absl::string_view relative) const {
    struct stat st;
    const std::string host = tree_.HostPath(relative);
    EXPECT_EQ(::stat(host.c_str(), &st), 0) << host;
    return st.st_ino;
  }

  static ino_t InodeOf(const base::ScopedFd& fd) {
    struct stat st;
    EXPECT_EQ(::fstat(fd.get(), &st), 0);
    return st.st_ino;
  }

  // Fails if `status` reveals where the tree lives on the host.
  void ExpectNoHostPath(const absl::Status& status) const {
    const std::string& host = tree_.path();
    const std::string base = host.substr(host.rfind('/') + 1);
    EXPECT_FALSE(absl::StrContains(status.message(), host)) << status;
    EXPECT_FALSE(absl::StrContains(status.message(), base)) << status;
  }

  TempDir tree_;
  std::optional<ServedRoot> root_;
};

TEST_F(ServedRootTest, EmptyAndDotOpenTheRoot) {
  for (absl::string_view path : {"", ".", "./", "a/..", "sub/../a/.."}) {
    absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(path);
    ASSERT_THAT(fd, IsOk()) << path;
    EXPECT_EQ(InodeOf(*fd), InodeOf("")) << path;
  }
}

TEST_F(ServedRootTest, OpensSubdirectory) {
  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory("sub");
  ASSERT_THAT(fd, IsOk());
  EXPECT_EQ(InodeOf(*fd), InodeOf("sub"));
}

TEST_F(ServedRootTest, FollowsSymlinkThatStaysInside) {
  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory("link_to_sub");
  ASSERT_THAT(fd, IsOk());
  EXPECT_EQ(InodeOf(*fd), InodeOf("sub"));
}

TEST_F(ServedRootTest, RegularFileIsFailedPrecondition) {
  for (absl::string_view path : {"file", "file/", "file/x"}) {
    absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(path);
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kFailedPrecondition)
        << path << ": " << fd.status();
  }
}

TEST_F(ServedRootTest, MissingIsNotFound) {
  for (absl::string_view path : {"missing", "a/missing", "missing/x"}) {
    absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(path);
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound)
        << path << ": " << fd.status();
    ExpectNoHostPath(fd.status());
  }
}

TEST_F(ServedRootTest, OverlongPathIsInvalidArgument) {
  std::string path;
  while (path.size() < PATH_MAX) path += "a/";
  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(path);
  EXPECT_THAT(fd, StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ServedRootTest, KeepsServingTheOpenedDirectoryAfterRename) {
  const std::string renamed = tree_.path() + ".renamed";
  ASSERT_EQ(::rename(tree_.path().c_str(), renamed.c_str()), 0);
  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory("sub");
  EXPECT_THAT(fd, IsOk());
  ASSERT_EQ(::rename(renamed.c_str(), tree_.path().c_str()), 0);
}

// Leaving the root and coming back in is still an escape: RESOLVE_BENEATH
// rejects the `..`, not the destination.
TEST_F(ServedRootTest, OutAndBackInIsPermissionDenied) {
  const std::string& host = tree_.path();
  const std::string path = "../" + host.substr(host.rfind('/') + 1) + "/sub";
  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(path);
  EXPECT_THAT(fd, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_FALSE(absl::StrContains(fd.status().message(), host)) << fd.status();
}

TEST(ServedRootOpenTest, MissingDirectoryIsNotFound) {
  TempDir tree;
  absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree.HostPath("missing"));
  EXPECT_THAT(root, StatusIs(absl::StatusCode::kNotFound));
}

TEST(ServedRootOpenTest, RegularFileIsFailedPrecondition) {
  TempDir tree;
  ASSERT_NO_FATAL_FAILURE(tree.WriteFile("file"));
  absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree.HostPath("file"));
  EXPECT_THAT(root, StatusIs(absl::StatusCode::kFailedPrecondition));
}

struct RejectedPath {
  std::string name;  // GoogleTest parameter name.
  std::string path;
  absl::StatusCode code;
};

void PrintTo(const RejectedPath& rejected, std::ostream* os) {
  *os << "\"" << absl::CHexEscape(rejected.path) << "\" -> "
      << absl::StatusCodeToString(rejected.code);
}

class ServedRootRejectsTest
    : public ServedRootTest,
      public ::testing::WithParamInterface<RejectedPath> {};

// Neither the root itself nor a listing may come out of a rejected path, and
// the error must not say where the tree lives.
TEST_P(ServedRootRejectsTest, OpenAndListFailWithoutRevealingHostPath) {
  const RejectedPath& param = GetParam();

  absl::StatusOr<base::ScopedFd> fd = root_->OpenDirectory(param.path);
  EXPECT_EQ(fd.status().code(), param.code) << fd.status();
  ExpectNoHostPath(fd.status());

  absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree_.path());
  ASSERT_THAT(root, IsOk());
  const FileServiceCore service(*std::move(root), FileServiceOptions());
  v1::ListDirectoryRequest request;
  request.set_path(param.path);
  v1::ListDirectoryResponse response;
  const absl::Status status = service.ListDirectory(request, &response);
  EXPECT_EQ(status.code(), param.code) << status;
  ExpectNoHostPath(status);
  EXPECT_EQ(response.entries_size(), 0);
  EXPECT_EQ(response.next_page_token(), "");
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, ServedRootRejectsTest,
    ::testing::Values(
        RejectedPath{"DotDot", "..", absl::StatusCode::kPermissionDenied},
        RejectedPath{"DotDotTrailingSlash", "../",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"DownThenUpTwice", "a/../..",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"Absolute", "/etc", absl::StatusCode::kInvalidArgument},
        RejectedPath{"AbsoluteRoot", "/", absl::StatusCode::kInvalidArgument},
        RejectedPath{"EmbeddedNul", std::string("a\0b", 3),
                     absl::StatusCode::kInvalidArgument},
        RejectedPath{"TrailingNul", std::string("a\0", 2),
                     absl::StatusCode::kInvalidArgument},
        RejectedPath{"SymlinkToSlash", "link_to_root",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"ThroughSymlinkToSlash", "link_to_root/etc",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"SymlinkToDotDot", "link_to_parent",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"NestedSymlinkUpTwo", "a/link_up_two",
                     absl::StatusCode::kPermissionDenied},
        // RESOLVE_BENEATH refuses absolute symlinks even when they point
        // back inside the tree.
        RejectedPath{"AbsoluteSymlinkInside", "abs_link_inside",
                     absl::StatusCode::kPermissionDenied},
        RejectedPath{"SymlinkLoop", "loop_a",
                     absl::StatusCode::kFailedPrecondition}),
    [](const ::testing::TestParamInfo<RejectedPath>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace dualrpc::fileservice
