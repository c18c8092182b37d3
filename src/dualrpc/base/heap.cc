#include "dualrpc/base/heap.h"

#include <malloc.h>

namespace dualrpc::base {

void KeepFreedHeap() {
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit; setting
  // either value also turns off glibc's dynamic adjustment of both.
  constexpr int kMmapThresholdBytes = 32 << 20;
  constexpr int kTrimThresholdBytes = 64 << 20;
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
}

}  // namespace dualrpc::base
