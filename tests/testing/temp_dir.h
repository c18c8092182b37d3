#ifndef DUALRPC_TESTS_TESTING_TEMP_DIR_H_
#define DUALRPC_TESTS_TESTING_TEMP_DIR_H_

#include <string>

namespace dualrpc_testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction. Aborts the test binary if it cannot be created.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/relative
  std::string Join(const std::string& relative) const { return path_ + "/" + relative; }

  // Helpers that abort on failure (fixtures, not code under test).
  void WriteFile(const std::string& relative, const std::string& contents) const;
  void MakeDirectory(const std::string& relative) const;
  void MakeSymlink(const std::string& target, const std::string& relative) const;

 private:
  std::string path_;
};

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_TEMP_DIR_H_
