#include "local_list_contender.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::bench {
namespace {

// Reads `path` once: every entry but "." and "..", each lstat'ed. Returns
// the number of entries.
absl::StatusOr<int64_t> ListOnce(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return base::PosixError(absl::StrCat("opendir ", path), errno);
  int64_t entries = 0;
  absl::Status status;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 ||
        std::strcmp(entry->d_name, "..") == 0)
      continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      status = base::PosixError(absl::StrCat("lstat ", entry->d_name), errno);
      break;
    }
    ++entries;
  }
  ::closedir(dir);
  if (!status.ok()) return status;
  return entries;
}

// Walks the tree below `dir` (an open directory fd, which it takes) as
// WalkTree does: each directory's names read, sorted by their bytes, each
// entry lstat'ed, subdirectories descended (opened relative to their
// parent, no symlink followed). Returns the number of entries.
absl::StatusOr<int64_t> WalkOnce(int dir) {
  DIR* stream = ::fdopendir(dir);
  if (stream == nullptr) {
    ::close(dir);
    return base::PosixError("fdopendir", errno);
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(stream)) {
    if (std::strcmp(entry->d_name, ".") == 0 ||
        std::strcmp(entry->d_name, "..") == 0)
      continue;
    names.emplace_back(entry->d_name);
  }
  std::sort(names.begin(), names.end());
  int64_t entries = 0;
  absl::Status status;
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(::dirfd(stream), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) !=
        0) {
      status = base::PosixError(absl::StrCat("lstat ", name), errno);
      break;
    }
    ++entries;
    if (!S_ISDIR(st.st_mode)) continue;
    const int child = ::openat(::dirfd(stream), name.c_str(),
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      status = base::PosixError(absl::StrCat("open ", name), errno);
      break;
    }
    absl::StatusOr<int64_t> below = WalkOnce(child);
    if (!below.ok()) {
      status = below.status();
      break;
    }
    entries += *below;
  }
  ::closedir(stream);
  if (!status.ok()) return status;
  return entries;
}

absl::StatusOr<int64_t> RunOnce(const Workload& workload,
                                const std::string& path) {
  if (workload.kind == Workload::Kind::kList) return ListOnce(path);
  const int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return base::PosixError(absl::StrCat("open ", path), errno);
  return WalkOnce(dir);
}

}  // namespace

absl::Status LocalListContender::Run(const Workload& workload,
                                     const LoadShape& shape,
                                     RunControl* control) {
  if (shape.mode == LoadShape::Mode::kOpen) {
    return absl::UnimplementedError(
        "the local reference runs closed loops only");
  }
  const std::string path = absl::StrCat(root_, "/", workload.list_path);
  std::vector<std::thread> callers;
  control->MarkStarted();
  for (int i = 0; i < shape.concurrency; ++i) {
    callers.emplace_back([&]() {
      while (control->running()) {
        const int64_t start = NowNanos();
        absl::StatusOr<int64_t> entries = RunOnce(workload, path);
        const bool ok = entries.ok() && *entries == workload.entries;
        control->RecordCall(NowNanos() - start, ok);
        if (!ok) {
          control->NoteError(entries.ok()
                                 ? absl::StrCat("listed ", *entries, " entries")
                                 : entries.status().ToString());
          return;
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
