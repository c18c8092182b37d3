#ifndef DUALRPC_TESTS_TESTING_TEMP_DIR_H_
#define DUALRPC_TESTS_TESTING_TEMP_DIR_H_

#include <sys/types.h>

#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace dualrpc_testing {

// A fresh directory made with mkdtemp under $TMPDIR (default /tmp), mode
// 0755 so that an unprivileged user can traverse it, removed with everything
// beneath it on destruction (symlinks are removed, never followed). Owned by
// one test or fixture; not thread-safe.
//
// The builder methods take paths relative to the directory and report
// failures as fatal GoogleTest failures: wrap them in ASSERT_NO_FATAL_FAILURE
// when later steps depend on them.
class TempDir {
 public:
  TempDir();
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute host path of the directory; empty if mkdtemp failed (a test
  // failure has been recorded then).
  const std::string& path() const { return path_; }
  // path()/relative.
  std::string HostPath(absl::string_view relative) const;

  // mkdir with exactly `mode` (not filtered by the umask).
  void MakeDir(absl::string_view relative, mode_t mode = 0755) const;
  // Creates or truncates the file `relative` and writes `contents`.
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

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_TEMP_DIR_H_
