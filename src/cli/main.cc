// dualrpc — command-line client for dualrpc.v1.FileService.
//
// Exit status: 0 success; 1 a call failed ("CODE_NAME: message" on stderr);
// 2 usage error (bad flag, command, argument count or target).

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cli/commands.h"
#include "cli/file_service_client.h"
#include "cli/flag_parsing.h"

ABSL_FLAG(std::string, target, "grpc://127.0.0.1:50051",
          "Server to call: grpc://HOST:PORT or raw://HOST:PORT.");
ABSL_FLAG(absl::Duration, timeout, dualrpc::cli::kDefaultCallTimeout,
          "Deadline of each call, e.g. 5s or 250ms.");
ABSL_FLAG(bool, json, false, "Print responses as proto3 JSON.");
ABSL_FLAG(int32_t, page_size, 0,
          "ls: entries per page asked of the server (0: server default).");
ABSL_FLAG(bool, no_follow_pages, false,
          "ls: fetch only the first page; print its next_page_token on "
          "stderr.");
ABSL_FLAG(bool, l, false, "ls: long listing.");

namespace dualrpc::cli {
namespace {

constexpr int kExitSuccess = 0;
constexpr int kExitCallFailed = 1;
constexpr int kExitUsage = 2;

constexpr absl::string_view kUsage =
    R"(usage: dualrpc [--target=URI] [--timeout=DURATION] [--json] COMMAND [ARGS]

commands:
  ls [-l] [--page_size=N] [--no_follow_pages] [PATH]
      List a directory beneath the served root (default: the root), one
      name per line, following every page. -l: MODE SIZE MTIME NAME[ -> TARGET].
  echo [TEXT]
      Send TEXT (or, without it, standard input up to EOF) and print the
      echoed payload (a newline follows only TEXT).

flags (before or after COMMAND; "--" ends flags):
  --target=URI        server, grpc://HOST:PORT (gRPC) or raw://HOST:PORT (framed
                      TCP); HOST may be [IPv6] (default grpc://127.0.0.1:50051)
  --timeout=DURATION  deadline of each call, e.g. 5s, 250ms (default 10s)
  --json              print responses as proto3 JSON; ls merges all pages
  --page_size=N       ls: entries per page asked of the server (default 0: server's)
  --no_follow_pages   ls: first page only; its next_page_token goes to stderr
  -l                  ls: long listing

exit status: 0 ok, 1 call failed (stderr: CODE_NAME: message), 2 usage error
)";

int UsageError(absl::string_view message) {
  std::cerr << "dualrpc: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

using Args = absl::Span<const std::string>;

absl::Status RunLsCommand(FileServiceClient& client, const CallOptions& call,
                          Args args) {
  LsOptions ls;
  if (!args.empty()) ls.path = args[0];
  ls.page_size = absl::GetFlag(FLAGS_page_size);
  ls.follow_pages = !absl::GetFlag(FLAGS_no_follow_pages);
  ls.long_format = absl::GetFlag(FLAGS_l);
  return RunLs(client, call, ls, std::cout, std::cerr);
}

absl::Status RunEchoCommand(FileServiceClient& client, const CallOptions& call,
                            Args args) {
  EchoOptions echo;
  if (!args.empty()) echo.text = args[0];
  return RunEcho(client, call, echo, std::cin, std::cout);
}

struct Command {
  absl::string_view name;
  size_t max_args;
  absl::Status (*run)(FileServiceClient&, const CallOptions&, Args);
};

constexpr Command kCommands[] = {
    {"ls", 1, RunLsCommand},
    {"echo", 1, RunEchoCommand},
};

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : kCommands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

int Main(absl::Span<const char* const> argv) {
  absl::StatusOr<ParsedCommandLine> parsed = ParseCommandLineFlags(argv);
  if (!parsed.ok()) return UsageError(parsed.status().message());
  if (parsed->help_requested) {
    std::cout << kUsage;
    return kExitSuccess;
  }
  if (parsed->positional.empty()) return UsageError("missing COMMAND");

  const std::string& name = parsed->positional[0];
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    return UsageError("unknown command \"" + name + "\"");
  }
  const Args args = Args(parsed->positional).subspan(1);
  if (args.size() > command->max_args) {
    return UsageError("too many arguments for " + name +
                      " (quote TEXT that has spaces)");
  }

  CallOptions call;
  call.timeout = absl::GetFlag(FLAGS_timeout);
  call.json = absl::GetFlag(FLAGS_json);
  if (call.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  absl::StatusOr<std::unique_ptr<FileServiceClient>> client =
      MakeClient(absl::GetFlag(FLAGS_target));
  if (!client.ok()) return UsageError(client.status().message());

  const absl::Status status = command->run(**client, call, args);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << FormatStatusForCli(status) << '\n';
    return kExitCallFailed;
  }
  return kExitSuccess;
}

}  // namespace
}  // namespace dualrpc::cli

int main(int argc, char** argv) {
  return dualrpc::cli::Main(
      absl::Span<const char* const>(argv, static_cast<size_t>(argc)));
}
