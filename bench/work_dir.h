#ifndef DUALRPC_BENCH_WORK_DIR_H_
#define DUALRPC_BENCH_WORK_DIR_H_

#include <string>

#include "absl/status/statusor.h"

namespace dualrpc::bench {

// The bench's scratch directory (ready files, server logs, and the served
// root with the generated directories); removed with everything in it on
// destruction unless kept.
class WorkDir {
 public:
  static absl::StatusOr<WorkDir> Create(bool keep);
  WorkDir(WorkDir&& other) noexcept
      : path_(std::move(other.path_)), keep_(other.keep_) {
    other.path_.clear();
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir();

  const std::string& path() const { return path_; }
  // The directory the dualrpc servers serve.
  std::string root() const { return path_ + "/root"; }

  // Creates root()/<relative_path> holding `entries` empty files
  // (entry-0000000,
  // ...), unless it already holds exactly that many.
  absl::Status MakeListDirectory(const std::string& relative_path,
                                 int entries) const;
  // Creates root()/<relative_path> holding a tree of `entries` entries in
  // all (not counting the top): sqrt(entries) subdirectories (dir-0000, ...)
  // sharing the rest as empty files, unless it already exists.
  absl::Status MakeTree(const std::string& relative_path, int entries) const;

 private:
  WorkDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}

  std::string path_;
  bool keep_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_WORK_DIR_H_
