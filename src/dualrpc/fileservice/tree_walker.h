#ifndef DUALRPC_FILESERVICE_TREE_WALKER_H_
#define DUALRPC_FILESERVICE_TREE_WALKER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "dualrpc/fileservice/directory_entries.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/v1/file_service.pb.h"

namespace dualrpc::fileservice {

struct TreeWalkerOptions {
  // Directories open at once, one per level from the walked directory down
  // to the one being read (each holds a descriptor). A directory that would
  // be one level too many is reported as its entry with `error`
  // RESOURCE_EXHAUSTED and not entered; the walk goes on beside it. Bounds
  // the descriptors of one walk; 0 is treated as 1.
  std::size_t max_open_directories = 64;
  // How subdirectories are opened, as ::openat(parent_fd, name, flags) (a
  // descriptor, or -1 with errno set). Empty means ::openat; tests inject
  // failures here (a race with a removal cannot be timed from outside).
  std::function<int(int parent_fd, const char* name, int flags)>
      open_subdirectory;
};

// One WalkTree walk (file_service.proto): every entry beneath a directory,
// depth first, each directory's entries ordered by the raw bytes of their
// names, a directory right before its contents, symlinks reported and never
// followed.
//
// Jail: the walked directory is opened like ListDirectory's (ServedRoot,
// openat2 RESOLVE_BENEATH from the root), and every subdirectory with
// openat(parent_fd, name, O_NOFOLLOW | O_DIRECTORY) relative to its parent's
// descriptor, so a rename or a symlink swapped in mid-walk cannot lead
// outside the tree: nothing is ever resolved by path from the root again.
//
// Memory: a stack of open directories (at most max_open_directories), each
// with its own names, read and sorted when the walk enters it; the tree is
// never held whole. The cost is the sum of the names of the directories on
// the current path, plus one batch.
//
// Blocking filesystem work: use it on a BlockingExecutor, never on a
// transport thread. Not thread-safe; one owner, who may move it between
// threads with the usual happens-before (an executor's queue).
class TreeWalker {
 public:
  // Opens request.path() and reads its names. Fails as ListDirectory does for
  // that path (INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND,
  // FAILED_PRECONDITION); `root` must outlive the walker.
  static absl::StatusOr<TreeWalker> Start(const ServedRoot& root,
                                          const v1::WalkTreeRequest& request,
                                          TreeWalkerOptions options = {});

  TreeWalker(TreeWalker&&) = default;
  TreeWalker& operator=(TreeWalker&&) = default;

  // Appends the next entries of the walk to `batch`: at least one unless the
  // walk is over, and no more once `max_entries` are appended or their
  // encoding reaches `max_bytes`. A subdirectory that cannot be opened or
  // read, or an entry that cannot be lstat'ed, is an entry with `error`
  // set; only a failure the walk cannot step over is an error here.
  // Returns whether entries may follow (false: the walk is complete).
  absl::StatusOr<bool> NextBatch(std::size_t max_entries,
                                 std::size_t max_bytes,
                                 v1::WalkTreeResponse* batch);

  // Directories read so far (the walked one included): how far the walk
  // went down into the disk.
  std::uint64_t directories_read() const { return directories_read_; }

 private:
  // One open directory of the walk.
  struct Frame {
    DirStream dir;
    std::vector<std::string> names;  // sorted by bytes
    std::size_t next = 0;            // index of the next name to report
    std::string prefix;              // its path from the root, "" or "a/b/"
    std::uint32_t depth = 1;         // the depth of its entries
  };

  TreeWalker(std::uint32_t max_depth, TreeWalkerOptions options)
      : max_depth_(max_depth), options_(std::move(options)) {}

  // Reads and sorts the names of directory `fd` (taken) into a new frame.
  absl::StatusOr<Frame> ReadFrame(int fd, std::string prefix,
                                  std::uint32_t depth,
                                  absl::string_view request_path);
  // Opens subdirectory `name` of the top frame and pushes it.
  absl::Status Enter(const std::string& name, const std::string& path,
                     std::uint32_t depth);

  std::uint32_t max_depth_;
  TreeWalkerOptions options_;
  std::vector<Frame> stack_;
  std::uint64_t directories_read_ = 0;
};

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_TREE_WALKER_H_
