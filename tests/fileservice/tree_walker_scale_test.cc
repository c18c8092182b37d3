#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/fileservice/tree_walker.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::fileservice {
namespace {

using ::dualrpc_testing::IsOk;

// 100 directories of 1,000 files: the walk holds one directory's names at a
// time, so the heap grows by far less than the tree's ~100,100 entries
// would take (~10 MB as TreeEntry messages, ~4 MB as names alone).
TEST(TreeWalkerScaleTest, HundredThousandEntriesWalkInBoundedMemory) {
  dualrpc_testing::TempDir tree;
  // Hard links of one file per directory: an entry each, without an inode
  // each (so the tree builds in a fraction of the time files would take).
  for (int d = 0; d < 100; ++d) {
    const std::string dir = absl::StrCat("dir", d);
    ASSERT_NO_FATAL_FAILURE(tree.MakeDir(dir));
    ASSERT_NO_FATAL_FAILURE(tree.WriteFile(absl::StrCat(dir, "/file-0.dat")));
    const std::string seed = tree.HostPath(absl::StrCat(dir, "/file-0.dat"));
    for (int i = 1; i < 1000; ++i) {
      const std::string link =
          tree.HostPath(absl::StrCat(dir, "/file-", i, ".dat"));
      ASSERT_EQ(::link(seed.c_str(), link.c_str()), 0) << link;
    }
  }
  absl::StatusOr<ServedRoot> root = ServedRoot::Open(tree.path());
  ASSERT_THAT(root.status(), IsOk());
  absl::StatusOr<TreeWalker> walker =
      TreeWalker::Start(*root, v1::WalkTreeRequest());
  ASSERT_THAT(walker.status(), IsOk());
  const std::size_t baseline = ::mallinfo2().uordblks;
  std::size_t peak = 0;
  std::size_t entries = 0;
  std::string last_path;
  for (;;) {
    v1::WalkTreeResponse batch;
    absl::StatusOr<bool> more = walker->NextBatch(256, 32 * 1024, &batch);
    ASSERT_THAT(more.status(), IsOk());
    const std::size_t used = ::mallinfo2().uordblks;
    if (used > baseline) peak = std::max(peak, used - baseline);
    ASSERT_LE(batch.entries_size(), 256);
    for (const v1::TreeEntry& entry : batch.entries()) {
      ASSERT_LT(last_path, entry.path());  // byte order is walk order here
      last_path = entry.path();
    }
    entries += static_cast<std::size_t>(batch.entries_size());
    if (!*more) break;
  }
  EXPECT_EQ(entries, 100u * 1000u + 100u);
  EXPECT_EQ(walker->directories_read(), 101u);
  EXPECT_LT(peak, 1u << 20) << "heap grew by " << peak << " bytes";
}

}  // namespace
}  // namespace dualrpc::fileservice
