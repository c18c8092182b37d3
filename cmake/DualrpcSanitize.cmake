# Sanitizer and fuzzer builds (README, "Fuzzing and sanitizers").
#
#   -DDUALRPC_SANITIZE=address,undefined   ASan + UBSan (LeakSanitizer included)
#   -DDUALRPC_SANITIZE=thread              TSan
#   -DDUALRPC_FUZZ=ON                      the libFuzzer targets in fuzz/
#
# Both need clang 14 (CC=clang-14 CXX=clang++-14, or
# -DCMAKE_CXX_COMPILER=clang++-14): libFuzzer is clang's, and one toolchain
# for every instrumented build keeps the reports comparable. Each wants its
# own build directory (scripts/test --sanitize / --fuzz use build-<name>/).
# With neither option set nothing here changes the build.
#
# The flags apply to every target of this project (libraries, tests, the
# server, the fuzzers), not to the Debian libraries they link: gRPC,
# protobuf and Abseil are not instrumented (see scripts/tsan.supp).
# -fno-sanitize-recover makes every UBSan finding fatal, and scripts/test
# sets halt_on_error in each sanitizer's options, so a finding fails the run.
set(DUALRPC_SANITIZE "" CACHE STRING
    "Sanitizers for every target: address,undefined | thread | empty (none)")
option(DUALRPC_FUZZ "Build the libFuzzer targets in fuzz/ (clang 14)" OFF)

if(NOT DUALRPC_SANITIZE AND NOT DUALRPC_FUZZ)
  return()
endif()

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR
   CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
  message(FATAL_ERROR "DUALRPC_SANITIZE / DUALRPC_FUZZ need clang 14 or later "
          "(configure with -DCMAKE_CXX_COMPILER=clang++-14); this is "
          "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()

set(_dualrpc_sanitizers "${DUALRPC_SANITIZE}")
if(DUALRPC_FUZZ AND NOT _dualrpc_sanitizers)
  # A fuzzer without ASan finds only the crashes that crash by themselves.
  set(_dualrpc_sanitizers "address,undefined")
endif()
if(_dualrpc_sanitizers MATCHES "thread" AND _dualrpc_sanitizers MATCHES "address")
  message(FATAL_ERROR "DUALRPC_SANITIZE: thread and address cannot be combined")
endif()
if(DUALRPC_FUZZ AND _dualrpc_sanitizers MATCHES "thread")
  message(FATAL_ERROR "DUALRPC_FUZZ: use address,undefined (libFuzzer's default)")
endif()

set(_dualrpc_sanitize_flags
    -fsanitize=${_dualrpc_sanitizers}
    -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
if(_dualrpc_sanitizers MATCHES "undefined")
  # The vptr check needs RTTI of classes in uninstrumented libraries
  # (protobuf's, gRPC's) and reports their own casts: off.
  list(APPEND _dualrpc_sanitize_flags -fno-sanitize=vptr)
endif()
add_compile_options(${_dualrpc_sanitize_flags})
add_link_options(${_dualrpc_sanitize_flags})
if(DUALRPC_FUZZ)
  # Coverage instrumentation for every target; the fuzz targets add
  # -fsanitize=fuzzer (libFuzzer's main) at link time (fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()
message(STATUS "dualrpc: sanitizers ${_dualrpc_sanitizers}, fuzzers ${DUALRPC_FUZZ}")
