#include "work_dir.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dualrpc/base/posix_error.h"
#include "dualrpc/base/scoped_fd.h"

namespace dualrpc::bench {
namespace {

int RemoveOne(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

}  // namespace

absl::StatusOr<WorkDir> WorkDir::Create(bool keep) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(
      tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/dualrpc-bench-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr)
    return base::PosixError("mkdtemp", errno);
  WorkDir dir(buffer.data(), keep);
  if (::mkdir(dir.root().c_str(), 0755) != 0)
    return base::PosixError("mkdir root", errno);
  return dir;
}

WorkDir::~WorkDir() {
  if (path_.empty() || keep_) return;
  ::nftw(path_.c_str(), RemoveOne, 64, FTW_DEPTH | FTW_PHYS);
}

absl::Status WorkDir::MakeListDirectory(const std::string& relative_path,
                                        int entries) const {
  const std::string path = absl::StrCat(root(), "/", relative_path);
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return base::PosixError(absl::StrCat("mkdir ", path), errno);
  }
  base::ScopedFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return base::PosixError(absl::StrCat("open ", path), errno);
  for (int i = 0; i < entries; ++i) {
    const std::string name = absl::StrFormat("entry-%07d", i);
    base::ScopedFd file(::openat(dir.get(), name.c_str(),
                                 O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!file.valid())
      return base::PosixError(absl::StrCat("create ", name), errno);
  }
  return absl::OkStatus();
}

absl::Status WorkDir::MakeTree(const std::string& relative_path,
                               int entries) const {
  const std::string path = absl::StrCat(root(), "/", relative_path);
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno == EEXIST) return absl::OkStatus();
    return base::PosixError(absl::StrCat("mkdir ", path), errno);
  }
  int directories = 1;
  while ((directories + 1) * (directories + 1) <= entries) ++directories;
  const int files = entries - directories;
  for (int d = 0; d < directories; ++d) {
    const std::string name = absl::StrFormat("dir-%04d", d);
    // Files shared out as evenly as they go.
    const int here = files / directories + (d < files % directories ? 1 : 0);
    absl::Status made =
        MakeListDirectory(absl::StrCat(relative_path, "/", name), here);
    if (!made.ok()) return made;
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
