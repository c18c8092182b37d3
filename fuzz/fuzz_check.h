#ifndef DUALRPC_FUZZ_FUZZ_CHECK_H_
#define DUALRPC_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// FUZZ_CHECK(condition): the fuzzers' oracle. A false condition is a
// finding: it prints where and aborts, which libFuzzer reports as a crash
// and saves the input for (crash-<sha1>). Unlike assert() it stays on in
// release builds.
#define FUZZ_CHECK(condition)                                             \
  do {                                                                    \
    if (!(condition)) {                                                   \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,    \
                   __LINE__, #condition);                                 \
      std::abort();                                                       \
    }                                                                     \
  } while (false)

#endif  // DUALRPC_FUZZ_FUZZ_CHECK_H_
