// libFuzzer target: fileservice::ServedRoot::OpenDirectory, the path a peer
// names, resolved beneath the served root.
//
// At start-up it makes a small tree in a fresh temporary directory (removed
// at exit):
//   root/dir/           root/dir/sub/       root/dir/file
//   root/link_in  -> dir            (inside)
//   root/link_out -> ../outside     (escapes; root/../outside exists)
//   root/link_abs -> <outside, absolute>
//   root/loop     -> loop
// Oracles, besides the sanitizers: a path that opens is one of the tree's
// three directories (compared by device and inode), never the outside one;
// every error has one of the codes served_root.h promises, and no message
// names a host path (unless the peer's own path, which it quotes, did).

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/fileservice/served_root.h"
#include "fuzz_check.h"

namespace {

namespace fs = dualrpc::fileservice;

struct Tree {
  std::string base;  // holds root/ and outside/
  std::optional<fs::ServedRoot> root;
  std::vector<std::pair<dev_t, ino_t>> inside;  // root, dir, dir/sub
};

Tree* tree = nullptr;

void RemoveTree() {
  if (tree == nullptr || tree->base.empty()) return;
  ::nftw(
      tree->base.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) {
        return ::remove(path);
      },
      16, FTW_DEPTH | FTW_PHYS);
}

std::pair<dev_t, ino_t> Identity(const std::string& path) {
  struct stat st {};
  FUZZ_CHECK(::stat(path.c_str(), &st) == 0);
  return {st.st_dev, st.st_ino};
}

void MakeTree() {
  tree = new Tree;
  std::string pattern = "/tmp/dualrpc-fuzz-served-root-XXXXXX";
  FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
  tree->base = pattern;
  std::atexit(RemoveTree);
  const std::string root = tree->base + "/root";
  for (const std::string& dir : {root, root + "/dir", root + "/dir/sub",
                                 tree->base + "/outside"}) {
    FUZZ_CHECK(::mkdir(dir.c_str(), 0755) == 0);
  }
  const int file = ::open((root + "/dir/file").c_str(),
                          O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  FUZZ_CHECK(file >= 0);
  ::close(file);
  FUZZ_CHECK(::symlink("dir", (root + "/link_in").c_str()) == 0);
  FUZZ_CHECK(::symlink("../outside", (root + "/link_out").c_str()) == 0);
  FUZZ_CHECK(::symlink((tree->base + "/outside").c_str(),
                       (root + "/link_abs").c_str()) == 0);
  FUZZ_CHECK(::symlink("loop", (root + "/loop").c_str()) == 0);
  absl::StatusOr<fs::ServedRoot> opened = fs::ServedRoot::Open(root);
  FUZZ_CHECK(opened.ok());
  tree->root.emplace(*std::move(opened));
  tree->inside = {Identity(root), Identity(root + "/dir"),
                  Identity(root + "/dir/sub")};
}

bool IsPromisedCode(absl::StatusCode code) {
  return code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kPermissionDenied ||
         code == absl::StatusCode::kNotFound ||
         code == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeTree();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view path(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<dualrpc::base::ScopedFd> fd = tree->root->OpenDirectory(path);
  if (!fd.ok()) {
    FUZZ_CHECK(IsPromisedCode(fd.status().code()));
    // The message quotes the peer's path; nothing else of the host's.
    FUZZ_CHECK(!absl::StrContains(fd.status().message(), tree->base) ||
               absl::StrContains(path, tree->base));
    return 0;
  }
  struct stat st {};
  FUZZ_CHECK(::fstat(fd->get(), &st) == 0);
  FUZZ_CHECK(S_ISDIR(st.st_mode));
  bool inside = false;
  for (const auto& [dev, ino] : tree->inside) {
    inside = inside || (st.st_dev == dev && st.st_ino == ino);
  }
  FUZZ_CHECK(inside);
  return 0;
}
