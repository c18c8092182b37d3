// Replaces the global operator new for the binary it is linked into, to
// count each thread's allocations (interceptor_stage_test). Its own file, so
// that no call site sees malloc and the replaced operator new together.

#include <cstddef>
#include <cstdlib>
#include <new>

#include "testing/sanitizers.h"

namespace {
thread_local std::size_t thread_allocations = 0;
}  // namespace

std::size_t ThreadAllocations() { return thread_allocations; }

// Under TSan, whose runtime defines operator new itself, nothing is counted
// (AllocationsCounted() is false and the tests that count skip).
#ifdef DUALRPC_TESTING_TSAN
bool AllocationsCounted() { return false; }
#else
bool AllocationsCounted() { return true; }

void* operator new(std::size_t size) {
  ++thread_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif
