#include "local_list_contender.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
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
        absl::StatusOr<int64_t> entries = ListOnce(path);
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
