#ifndef DUALRPC_BASE_HEAP_H_
#define DUALRPC_BASE_HEAP_H_

namespace dualrpc {

// Keeps freed heap memory in the process instead of handing it back to the
// kernel after every large block. Process-wide (glibc mallopt): for
// programs, called first thing in main; the libraries never call it.
//
// Why: with glibc's defaults a freed block of a megabyte or so goes back to
// the kernel (munmap, or MADV_DONTNEED when a thread arena's heap shrinks),
// so every large message faults its pages in afresh. Measured with perf stat
// on the 1 MiB Echo: ~600 page faults per call in the server, which made a
// call cost ~10 ms of CPU on this VM instead of ~0.2 ms. After this, blocks
// up to 32 MiB come from the heap and up to 64 MiB of free memory per arena
// stays mapped: a bounded cost, since messages are limited in size.
void KeepFreedHeap();

}  // namespace dualrpc

#endif  // DUALRPC_BASE_HEAP_H_
