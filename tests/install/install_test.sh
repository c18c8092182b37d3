#!/usr/bin/env bash
# Installs a dualrpc build into a fresh prefix and uses it from outside the
# tree, the two ways a user would:
#   1. CMake: examples/consumer (find_package(dualrpc), its own proto through
#      protobuf_generate + dualrpc_generate) is configured against the prefix
#      alone, built, and run: it serves its service over both transports and
#      calls it through both.
#   2. pkg-config: pkgconfig_client.cc is compiled and linked with
#      `pkg-config --cflags --libs dualrpc` and echoes through the installed
#      dualrpc-server over grpc:// and raw:// (port 0, addresses from
#      --ready_file).
# Everything happens in one temporary directory, removed on exit; the server
# is killed on exit.
#
#   install_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX LIBDIR
set -euo pipefail

build_dir=$1 source_dir=$2 cmake=$3 cxx=$4 libdir=$5
# Longest wait for the installed server's ready file.
readonly READY_TIMEOUT_SECONDS=30

work=$(mktemp -d "${TMPDIR:-/tmp}/dualrpc-install-test.XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
prefix=$work/prefix

step() { echo "== $*"; }

step "cmake --install into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log"
for file in bin/protoc-gen-dualrpc bin/dualrpc bin/dualrpc-server \
            "$libdir/cmake/dualrpc/dualrpcConfig.cmake" "$libdir/pkgconfig/dualrpc.pc" \
            include/dualrpc/rpc/channel.h include/dualrpc/v1/file_service.pb.h \
            include/dualrpc/v1/file_service.dualrpc.h \
            share/dualrpc/proto/dualrpc/v1/file_service.proto; do
  [[ -e $prefix/$file ]] || { echo "not installed: $file" >&2; exit 1; }
done

step "CMake consumer: configure examples/consumer against the prefix"
"$cmake" -S "$source_dir/examples/consumer" -B "$work/consumer" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
  >"$work/consumer-configure.log" || { cat "$work/consumer-configure.log"; exit 1; }
# The package must come from the prefix, not from the build tree or the system.
grep -qx "dualrpc_DIR:PATH=$prefix/$libdir/cmake/dualrpc" "$work/consumer/CMakeCache.txt" ||
  { echo "dualrpc was not found in $prefix:"; grep dualrpc_DIR "$work/consumer/CMakeCache.txt"; exit 1; }
step "CMake consumer: build"
"$cmake" --build "$work/consumer" -j2 >"$work/consumer-build.log" ||
  { cat "$work/consumer-build.log"; exit 1; }
step "CMake consumer: run greeter_demo"
"$work/consumer/greeter_demo"

step "pkg-config consumer: compile and link pkgconfig_client.cc"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
flags=$(pkg-config --cflags --libs dualrpc)
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++17 -o "$work/pkgconfig_client" "$source_dir/tests/install/pkgconfig_client.cc" $flags

step "pkg-config consumer: echo through the installed dualrpc-server"
mkdir "$work/root"
ready=$work/ready.json
"$prefix/bin/dualrpc-server" --root "$work/root" --grpc_listen 127.0.0.1:0 \
  --raw_listen 127.0.0.1:0 --ready_file "$ready" 2>"$work/server.log" &
server_pid=$!
# The server writes the ready file with a rename: once it exists it is whole.
deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
until [[ -e $ready ]]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "dualrpc-server exited before it was ready:" >&2; cat "$work/server.log" >&2; exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "dualrpc-server wrote no ready file in ${READY_TIMEOUT_SECONDS} s" >&2; exit 1
  fi
  sleep 0.05
done
address() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$ready"; }
"$work/pkgconfig_client" "grpc://$(address grpc)" "raw://$(address raw)"
step "OK"
