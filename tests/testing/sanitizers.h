#ifndef DUALRPC_TESTING_SANITIZERS_H_
#define DUALRPC_TESTING_SANITIZERS_H_

// Which sanitizer this translation unit is built with (clang's
// __has_feature, gcc's __SANITIZE_*__), for tests whose subject a
// sanitizer's runtime takes over: DUALRPC_TESTING_TSAN (TSan defines the
// global operator new and delete itself, so a test cannot replace them to
// count allocations) and DUALRPC_TESTING_ASAN (ASan's allocator is not
// glibc's: malloc_trim does nothing).

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUALRPC_TESTING_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define DUALRPC_TESTING_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(DUALRPC_TESTING_TSAN)
#define DUALRPC_TESTING_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(DUALRPC_TESTING_ASAN)
#define DUALRPC_TESTING_ASAN 1
#endif

#endif  // DUALRPC_TESTING_SANITIZERS_H_
