#include "dualrpc/base/heap.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace dualrpc::base {

void KeepFreedHeap() {
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit; setting
  // either value also turns off glibc's dynamic adjustment of both.
  constexpr int kMmapThresholdBytes = 32 << 20;
  // Enough for a few 1 MiB messages' buffers to come and go without a
  // trim each; little enough that the arenas of a dozen threads cannot keep
  // hundreds of MiB a peer once made us allocate.
  constexpr int kTrimThresholdBytes = 8 << 20;
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
}

void ReleaseFreedHeap() { malloc_trim(0); }

std::int64_t ResidentBytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return -1;
  long long size_pages = 0;
  long long resident_pages = 0;
  const int read =
      std::fscanf(statm, "%lld %lld", &size_pages, &resident_pages);
  std::fclose(statm);
  if (read != 2) return -1;
  return static_cast<std::int64_t>(resident_pages) * ::sysconf(_SC_PAGESIZE);
}

HeapReleaser::HeapReleaser(Options options)
    : options_(options), thread_([this] { Run(); }) {}

HeapReleaser::~HeapReleaser() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int HeapReleaser::releases() const {
  absl::MutexLock lock(&mu_);
  return releases_;
}

namespace {

// Free bytes in the malloc arenas (resident or not): what a trim could give
// back. Walks the arenas' bins.
std::int64_t FreeHeapBytes() {
  return static_cast<std::int64_t>(mallinfo2().fordblks);
}

}  // namespace

void HeapReleaser::Run() {
  // Figures after the last release (or at start); each lowered when the
  // process gives memory back by other means or reuses what was free, so
  // that growth is measured from the lowest point since.
  std::int64_t resident_after = ResidentBytes();
  std::int64_t free_after = FreeHeapBytes();
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval)) {
    const std::int64_t resident = ResidentBytes();
    const std::int64_t free = FreeHeapBytes();
    // Memory that grew while live and was freed after a release shows as
    // free growth; memory freed and not yet released, as resident growth.
    if (resident - resident_after < options_.min_growth_bytes &&
        free - free_after < options_.min_growth_bytes) {
      resident_after = std::min(resident_after, resident);
      free_after = std::min(free_after, free);
      continue;
    }
    mu_.Unlock();
    ReleaseFreedHeap();
    const std::int64_t resident_now = ResidentBytes();
    const std::int64_t free_now = FreeHeapBytes();
    mu_.Lock();
    ++releases_;
    resident_after = resident_now;
    free_after = free_now;
  }
}

}  // namespace dualrpc::base
