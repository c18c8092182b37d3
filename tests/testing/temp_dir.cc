#include "testing/temp_dir.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

namespace dualrpc_testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::perror(what.c_str());
  std::abort();
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  // Make directories writable again: tests chmod some to 000.
  ::chmod(path, 0700);
  return ::remove(path);
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/dualrpc-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) Die("mkdtemp");
  path_ = buffer.data();
}

TempDir::~TempDir() {
  // Depth-first, physical (do not follow symlinks out of the fixture).
  ::chmod(path_.c_str(), 0700);
  ::nftw(path_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

void TempDir::WriteFile(const std::string& relative, const std::string& contents) const {
  std::ofstream out(Join(relative), std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) Die("write " + relative);
}

void TempDir::MakeDirectory(const std::string& relative) const {
  if (::mkdir(Join(relative).c_str(), 0755) != 0) Die("mkdir " + relative);
}

void TempDir::MakeSymlink(const std::string& target, const std::string& relative) const {
  if (::symlink(target.c_str(), Join(relative).c_str()) != 0) Die("symlink " + relative);
}

}  // namespace dualrpc_testing
