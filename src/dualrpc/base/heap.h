#ifndef DUALRPC_BASE_HEAP_H_
#define DUALRPC_BASE_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dualrpc::base {

// Keeps freed heap memory in the process instead of handing it back to the
// kernel after every large block. Process-wide (glibc mallopt): for
// programs, called first thing in main; the libraries never call it.
//
// Why: with glibc's defaults a freed block of a megabyte or so goes back to
// the kernel (munmap, or MADV_DONTNEED when a thread arena's heap shrinks),
// so every large message faults its pages in afresh. Measured with perf stat
// on the 1 MiB Echo: ~600 page faults per call in the server, which made a
// call cost ~10 ms of CPU on this VM instead of ~0.2 ms. After this, blocks
// up to 32 MiB come from the heap and some free memory per arena
// stays mapped: a bounded cost, since messages are limited in size.
// Freed memory kept at the top of an arena is bounded by the trim
// threshold (8 MiB per arena); what a closed connection held elsewhere in
// the heap is given back by ReleaseFreedHeap, which the raw server calls
// after such closes. Measured on the 1 MiB Echo: docs/BENCHMARKS.md.
void KeepFreedHeap();

// Gives the free memory of every malloc arena back to the kernel
// (malloc_trim(0): whole free pages, not only the top of each heap). Costs
// a walk of the arenas' free lists, a few milliseconds on a large heap:
// for after large frees (a connection that held big buffers closed), not
// for a hot path. Any thread.
void ReleaseFreedHeap();

// The process's resident set (/proc/self/statm) in bytes; -1 if unknown.
std::int64_t ResidentBytes();

// Gives freed heap back to the kernel in the background, at most once per
// `interval`: a thread that wakes every interval and calls ReleaseFreedHeap
// when the resident set, or the free bytes in the arenas (mallinfo2), has
// grown by `min_growth_bytes` or more since its last release (or since it
// started; each measured from its lowest point since). glibc returns only the
// free top of each arena past the trim threshold; the free pages inside the
// arenas of gRPC's threads and the blocking executor's stay resident after a
// burst (measured on the soak: 88 MiB before a 30 s mixed load, 203 MiB after
// it had gone, 109 MiB after one malloc_trim). The raw server also releases at
// once after a connection that held large buffers closes (ServerLoop).
// What it costs: one read of /proc/self/statm and one mallinfo2 (a walk of
// the arenas' bins, each arena's lock held in turn) per interval, and a
// trim (a walk of the free lists, madvise of their whole free pages) only
// after growth; a heap that stays large and busy is trimmed at most
// once per interval. Owned by a program's main (dualrpc-server,
// --heap_release_interval); thread-safe to destroy from any thread.
class HeapReleaser {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(2);
    std::int64_t min_growth_bytes = 16 << 20;
  };

  explicit HeapReleaser(Options options);
  ~HeapReleaser();  // Stops the thread (at once, not after an interval).

  HeapReleaser(const HeapReleaser&) = delete;
  HeapReleaser& operator=(const HeapReleaser&) = delete;

  // Releases performed so far (for tests and logs).
  int releases() const;

 private:
  void Run();

  const Options options_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int releases_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Derive `T` from ThreadCachedAllocation<T> to give it a class-specific
// operator new/delete that keeps up to `kMaxCached` freed blocks per thread
// for the next `new T` on that thread: for objects made and destroyed once
// per call on a hot path (the raw server's ServerCall), where malloc + free
// cost ~130 of the server's ~2,400 instructions per call (callgrind). A block
// freed on another thread joins that thread's cache. Each thread's cache is
// freed when the thread exits; objects of T must not be deleted by a thread
// after its thread-local destructors have run.
template <typename T, int kMaxCached = 256>
class ThreadCachedAllocation {
 public:
  static void* operator new(std::size_t size) {
    Cache& cache = LocalCache();
    if (size == sizeof(T) && cache.count > 0)
      return cache.blocks[--cache.count];
    return ::operator new(size);
  }

  static void operator delete(void* block, std::size_t size) {
    Cache& cache = LocalCache();
    if (size == sizeof(T) && cache.count < kMaxCached) {
      cache.blocks[cache.count++] = block;
      return;
    }
    ::operator delete(block);
  }

 private:
  struct Cache {
    ~Cache() {
      while (count > 0) ::operator delete(blocks[--count]);
    }
    void* blocks[kMaxCached];
    int count = 0;
  };

  static Cache& LocalCache() {
    thread_local Cache cache;
    return cache;
  }
};

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_HEAP_H_
