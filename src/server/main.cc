// dualrpc-server: serves dualrpc.v1.FileService over gRPC.
//
// main() owns every part and wires them: the served root, the service core,
// the executor for blocking work, and the transports. SIGINT/SIGTERM begin a
// graceful shutdown: health flips to NOT_SERVING, listeners close, in-flight
// calls get --shutdown_grace to finish.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/blocking_executor.h"
#include "core/file_service.h"
#include "core/served_root.h"
#include "grpc/grpc_file_service.h"
#include "grpc/grpc_server.h"
#include "server/ready_file.h"

ABSL_FLAG(std::string, root, ".", "Directory to serve (default: the current directory).");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "HOST:PORT for the gRPC transport; port 0 picks a free port.");
ABSL_FLAG(std::string, ready_file, "",
          "Once listening, write the bound addresses here as JSON, e.g. "
          "{\"grpc\": \"127.0.0.1:41234\"}.");
ABSL_FLAG(int32_t, max_message_bytes, 4 * 1024 * 1024,
          "Largest request or response message, in bytes (gRPC's default receive limit).");
ABSL_FLAG(int32_t, default_page_size, 1000, "ListDirectory entries per page when page_size is 0.");
ABSL_FLAG(int32_t, max_page_size, 10000, "Larger ListDirectory page sizes are coerced to this.");
ABSL_FLAG(int32_t, blocking_threads, 4, "Threads for blocking filesystem work (ListDirectory).");
ABSL_FLAG(int32_t, blocking_queue, 1024,
          "Blocking calls queued beyond the busy threads before RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGINT/SIGTERM, how long in-flight calls may take to finish.");

namespace dualrpc {
namespace {

template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  std::fprintf(stderr, "dualrpc-server: %s\n", absl::StrFormat(format, args...).c_str());
}

// Blocks SIGINT and SIGTERM in this thread and in every thread it creates
// later, so they are only ever taken by WaitForShutdownSignal.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

int Run() {
  const sigset_t shutdown_signals = BlockShutdownSignals();

  absl::StatusOr<ServedRoot> root = ServedRoot::Open(absl::GetFlag(FLAGS_root));
  if (!root.ok()) {
    Log("cannot open root %s: %s", absl::GetFlag(FLAGS_root), root.status().ToString());
    return 1;
  }
  FileServiceOptions service_options;
  service_options.default_page_size = absl::GetFlag(FLAGS_default_page_size);
  service_options.max_page_size = absl::GetFlag(FLAGS_max_page_size);
  if (service_options.default_page_size <= 0 ||
      service_options.max_page_size < service_options.default_page_size) {
    Log("need 0 < --default_page_size <= --max_page_size");
    return 2;
  }
  FileServiceCore core(*std::move(root), service_options);
  BlockingExecutor executor({absl::GetFlag(FLAGS_blocking_threads),
                             static_cast<std::size_t>(absl::GetFlag(FLAGS_blocking_queue))});

  GrpcFileService grpc_service(&core, &executor);
  GrpcServerOptions grpc_options;
  grpc_options.listen_address = absl::GetFlag(FLAGS_grpc_listen);
  grpc_options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  grpc_options.max_send_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  grpc_options.health_service_names = {v1::FileService::service_full_name()};
  absl::StatusOr<std::unique_ptr<GrpcServer>> grpc_server =
      GrpcServer::Start(grpc_options, {&grpc_service});
  if (!grpc_server.ok()) {
    Log("%s", grpc_server.status().ToString());
    return 1;
  }
  Log("serving %s", absl::GetFlag(FLAGS_root));
  Log("grpc listening on %s", (*grpc_server)->address());

  const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
  if (!ready_file.empty()) {
    absl::Status written = WriteReadyFile(ready_file, {{"grpc", (*grpc_server)->address()}});
    if (!written.ok()) {
      Log("%s", written.ToString());
      return 1;
    }
  }

  const int signal_number = WaitForShutdownSignal(shutdown_signals);
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  Log("received %s, draining for up to %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM",
      absl::FormatDuration(grace));
  (*grpc_server)->Shutdown(grace);
  (*grpc_server)->Wait();
  Log("stopped");
  return 0;
}

}  // namespace
}  // namespace dualrpc

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Serves dualrpc.v1.FileService. Usage: dualrpc-server [flags]");
  absl::ParseCommandLine(argc, argv);
  return dualrpc::Run();
}
