// dualrpc-bench-capnp-server: the Cap'n Proto RPC contender. EchoService
// (bench/capnp/echo.capnp) served by capnp::EzRpcServer — Cap'n Proto's own
// single-threaded KJ event loop, as its examples serve. Runs until killed
// (the bench sends SIGTERM).

#include <capnp/ez-rpc.h>
#include <kj/async.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "bench_net.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/server/ready_file.h"
#include "echo.capnp.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "HOST:PORT to listen on; port 0 picks one.");
ABSL_FLAG(std::string, ready_file, "",
          "Once listening, write {\"capnp\": \"HOST:PORT\"} here.");

namespace dualrpc::bench {
namespace {

class EchoServiceImpl final : public EchoService::Server {
 protected:
  kj::Promise<void> echo(EchoContext context) override {
    context.getResults().setPayload(context.getParams().getPayload());
    return kj::READY_NOW;
  }
};

// Large enough for the bench's 1 MiB payloads with room to spare.
constexpr uint64_t kTraversalLimitWords = uint64_t{64} << 20;

int Run() {
  const std::string listen = absl::GetFlag(FLAGS_listen);
  capnp::ReaderOptions reader_options;
  reader_options.traversalLimitInWords = kTraversalLimitWords;
  capnp::EzRpcServer server(kj::heap<EchoServiceImpl>(), listen, 0,
                            reader_options);
  const unsigned port = server.getPort().wait(server.getWaitScope());
  const std::string host = listen.substr(0, listen.rfind(':'));
  if (const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
      !ready_file.empty()) {
    absl::Status written = server::WriteReadyFile(
        ready_file, {{"capnp", absl::StrCat(host, ":", port)}});
    if (!written.ok()) {
      std::fprintf(stderr, "capnp-server: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  kj::NEVER_DONE.wait(server.getWaitScope());
}

}  // namespace
}  // namespace dualrpc::bench

int main(int argc, char** argv) {
  // Every process of the bench, clients and all servers alike, keeps freed
  // heap (base/heap.h): large messages then cost the same allocator work
  // everywhere.
  dualrpc::base::KeepFreedHeap();
  absl::SetProgramUsageMessage(
      "Cap'n Proto EchoService over EzRpcServer (a bench contender).");
  absl::ParseCommandLine(argc, argv);
  return dualrpc::bench::Run();
}
