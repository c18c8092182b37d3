#include "dualrpc/fileservice/tree_walker.h"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::fileservice {
namespace {

// The prefix of the walked directory's entries: "" for the root ("" or
// "."), else the request path with one '/' after it.
std::string StartPrefix(absl::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty() || path == ".") return "";
  return absl::StrCat(path, "/");
}

void SetError(const absl::Status& status, v1::TreeEntry* entry) {
  entry->mutable_error()->set_code(static_cast<int32_t>(status.code()));
  entry->mutable_error()->set_message(std::string(status.message()));
}

}  // namespace

absl::StatusOr<TreeWalker> TreeWalker::Start(const ServedRoot& root,
                                             const v1::WalkTreeRequest& request,
                                             TreeWalkerOptions options) {
  absl::StatusOr<base::ScopedFd> fd = root.OpenDirectory(request.path());
  if (!fd.ok()) return fd.status();
  TreeWalker walker(request.max_depth(), std::move(options));
  absl::StatusOr<Frame> frame = walker.ReadFrame(
      fd->Release(), StartPrefix(request.path()), 1, request.path());
  if (!frame.ok()) return frame.status();
  walker.stack_.push_back(*std::move(frame));
  return walker;
}

absl::StatusOr<TreeWalker::Frame> TreeWalker::ReadFrame(
    int fd, std::string prefix, std::uint32_t depth,
    absl::string_view request_path) {
  Frame frame;
  frame.dir.reset(::fdopendir(fd));
  if (frame.dir == nullptr) {
    const int error_number = errno;
    ::close(fd);
    return base::PosixError(
        absl::StrCat("open directory ", Quote(request_path)), error_number);
  }
  absl::Status read =
      ForEachName(frame.dir.get(), request_path, [&](absl::string_view name) {
        frame.names.emplace_back(name);
        return true;
      });
  if (!read.ok()) return read;
  // std::string compares as unsigned bytes: the order the contract promises.
  std::sort(frame.names.begin(), frame.names.end());
  frame.prefix = std::move(prefix);
  frame.depth = depth;
  ++directories_read_;
  return frame;
}

absl::Status TreeWalker::Enter(const std::string& name, const std::string& path,
                               std::uint32_t depth) {
  if (stack_.size() >= std::max<std::size_t>(options_.max_open_directories, 1)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("not entered: the walk keeps at most ",
                     options_.max_open_directories, " directories open"));
  }
  const int parent_fd = ::dirfd(stack_.back().dir.get());
  // O_NOFOLLOW: a symlink swapped in since the lstat is not followed out.
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  const int fd = options_.open_subdirectory
                     ? options_.open_subdirectory(parent_fd, name.c_str(), kFlags)
                     : ::openat(parent_fd, name.c_str(), kFlags);
  if (fd < 0) {
    return base::PosixError(absl::StrCat("open directory ", Quote(path)),
                            errno);
  }
  absl::StatusOr<Frame> frame =
      ReadFrame(fd, absl::StrCat(path, "/"), depth + 1, path);
  if (!frame.ok()) return frame.status();
  stack_.push_back(*std::move(frame));
  return absl::OkStatus();
}

absl::StatusOr<bool> TreeWalker::NextBatch(std::size_t max_entries,
                                           std::size_t max_bytes,
                                           v1::WalkTreeResponse* batch) {
  std::size_t appended = 0;
  std::size_t bytes = 0;
  while (!stack_.empty()) {
    if (appended > 0 && (appended >= max_entries || bytes >= max_bytes)) {
      return true;
    }
    Frame& top = stack_.back();
    if (top.next == top.names.size()) {
      stack_.pop_back();
      continue;
    }
    // Copies: `top` dies when Enter pushes a frame.
    const std::string name = std::move(top.names[top.next++]);
    const std::string path = absl::StrCat(top.prefix, name);
    const std::uint32_t depth = top.depth;

    v1::TreeEntry* entry = batch->add_entries();
    absl::StatusOr<bool> found =
        StatEntry(::dirfd(top.dir.get()), name, path, entry->mutable_entry());
    if (found.ok() && !*found) {  // Vanished since readdir: not an error.
      batch->mutable_entries()->RemoveLast();
      continue;
    }
    SetTextField(path, entry->mutable_path(), entry->mutable_raw_path());
    entry->set_depth(depth);
    if (!found.ok()) {
      entry->mutable_entry()->Clear();
      SetTextField(name, entry->mutable_entry()->mutable_name(),
                   entry->mutable_entry()->mutable_raw_name());
      SetError(found.status(), entry);
    } else if (entry->entry().type() == v1::DirectoryEntry::TYPE_DIRECTORY &&
               (max_depth_ == 0 || depth < max_depth_)) {
      if (absl::Status entered = Enter(name, path, depth); !entered.ok()) {
        SetError(entered, entry);
      }
    }
    ++appended;
    bytes += entry->ByteSizeLong();
  }
  return false;
}

}  // namespace dualrpc::fileservice
