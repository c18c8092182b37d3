#ifndef DUALRPC_TESTS_CORE_TEMP_TREE_H_
#define DUALRPC_TESTS_CORE_TEMP_TREE_H_

#include <sys/types.h>

#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace dualrpc::fileservice {
namespace test {

// A fresh directory made with mkdtemp under $TMPDIR (default /tmp), mode
// 0755 so that an unprivileged user can traverse it, removed with everything
// beneath it on destruction. The builder methods take paths relative to the
// tree and report failures as fatal GoogleTest failures: wrap them in
// ASSERT_NO_FATAL_FAILURE when later steps depend on them.
class TempTree {
 public:
  TempTree();
  ~TempTree();

  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  // Absolute host path of the tree; empty if mkdtemp failed.
  const std::string& path() const { return path_; }
  std::string HostPath(absl::string_view relative) const;

  void MakeDir(absl::string_view relative, mode_t mode = 0755) const;
  void WriteFile(absl::string_view relative,
                 absl::string_view contents = "") const;
  // Creates a symlink at `relative` whose stored target is `target`.
  void Symlink(absl::string_view target, absl::string_view relative) const;
  // Creates `count` empty files named `name_of(i)` for i in [0, count) in the
  // directory `relative`, which must exist.
  template <typename NameOf>
  void MakeFiles(absl::string_view relative, int count, NameOf name_of) const {
    for (int i = 0; i < count; ++i) {
      WriteFile(std::string(relative) + "/" + name_of(i));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

 private:
  std::string path_;
};

}  // namespace test
}  // namespace dualrpc::fileservice

#endif  // DUALRPC_TESTS_CORE_TEMP_TREE_H_
