#include "dualrpc/base/heap.h"

#include <malloc.h>

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

}  // namespace dualrpc::base
