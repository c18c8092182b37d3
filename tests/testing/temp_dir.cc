#include "testing/temp_dir.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace dualrpc_testing {
namespace {

int MakeTraversable(const char* path, const struct stat*, int type,
                    struct FTW*) {
  // Tests chmod directories to 000; the pre-order walk reopens them first.
  if (type == FTW_D || type == FTW_DNR) ::chmod(path, 0700);
  return 0;
}

int RemoveOne(const char* path, const struct stat*, int, struct FTW*) {
  return std::remove(path) == 0 ? 0 : -1;
}

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

TempDir::TempDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                   "/dualrpc-test.XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << ErrnoText();
    return;
  }
  if (::chmod(templ.c_str(), 0755) != 0) {
    ADD_FAILURE() << "chmod " << templ << ": " << ErrnoText();
  }
  path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  // Physical walks: never follow a symlink out of the directory.
  ::chmod(path_.c_str(), 0700);
  ::nftw(path_.c_str(), MakeTraversable, 16, FTW_PHYS);
  if (::nftw(path_.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    ADD_FAILURE() << "could not remove " << path_ << ": " << ErrnoText();
  }
}

std::string TempDir::HostPath(absl::string_view relative) const {
  return absl::StrCat(path_, "/", relative);
}

void TempDir::MakeDir(absl::string_view relative, mode_t mode) const {
  const std::string host = HostPath(relative);
  ASSERT_EQ(::mkdir(host.c_str(), mode), 0) << host << ": " << ErrnoText();
  // mkdir's mode is filtered by the umask; the caller asked for exactly this.
  ASSERT_EQ(::chmod(host.c_str(), mode), 0) << host << ": " << ErrnoText();
}

void TempDir::WriteFile(absl::string_view relative,
                        absl::string_view contents) const {
  const std::string host = HostPath(relative);
  const int fd =
      ::open(host.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << host << ": " << ErrnoText();
  const ssize_t written = ::write(fd, contents.data(), contents.size());
  const int write_errno = errno;
  ::close(fd);
  ASSERT_EQ(written, static_cast<ssize_t>(contents.size()))
      << host << ": " << std::strerror(write_errno);
}

void TempDir::Symlink(absl::string_view target,
                      absl::string_view relative) const {
  const std::string host = HostPath(relative);
  const std::string target_string(target);
  ASSERT_EQ(::symlink(target_string.c_str(), host.c_str()), 0)
      << host << ": " << ErrnoText();
}

}  // namespace dualrpc_testing
