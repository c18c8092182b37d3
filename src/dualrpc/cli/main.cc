// dualrpc — command-line client for dualrpc.v1.FileService, and a grpcurl-like
// inspector (list, describe, call) for any server, with reflection or with
// its .proto files or protosets.
//
// Exit status: 0 success; 1 a call failed ("CODE_NAME: message" on stderr);
// 2 usage error (bad flag, command, argument count or target).

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dualrpc/cli/channel_file_service_client.h"
#include "dualrpc/cli/commands.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/cli/file_service_client.h"
#include "dualrpc/cli/flag_parsing.h"
#include "dualrpc/cli/inspect_commands.h"
#include "dualrpc/client/target.h"

ABSL_FLAG(std::string, target, "grpc://127.0.0.1:50051",
          "Server to call: HOST:PORT or grpc://HOST:PORT (gRPC), "
          "raw://HOST:PORT, unix:///PATH (gRPC), raw+unix:///PATH.");
ABSL_FLAG(absl::Duration, timeout, dualrpc::cli::kDefaultCallTimeout,
          "Deadline of each call, e.g. 5s or 250ms.");
ABSL_FLAG(bool, json, false, "Print responses as proto3 JSON.");
ABSL_FLAG(int32_t, page_size, 0,
          "ls: entries per page asked of the server (0: server default).");
ABSL_FLAG(bool, no_follow_pages, false,
          "ls: fetch only the first page; print its next_page_token on "
          "stderr.");
ABSL_FLAG(bool, l, false, "ls: long listing.");
ABSL_FLAG(std::string, d, "",
          "call: the request as JSON; @ or @- reads it from standard input, "
          "@FILE from FILE; none means {}.");
ABSL_FLAG(std::vector<std::string>, proto, {},
          "list, describe, call: take the schema from this .proto file "
          "instead of reflection (repeatable).");
ABSL_FLAG(std::vector<std::string>, import_path, {},
          "Where -proto files and their imports are looked up (repeatable; "
          "default: the current directory).");
ABSL_FLAG(std::vector<std::string>, protoset, {},
          "list, describe, call: take the schema from this serialized "
          "FileDescriptorSet instead of reflection (repeatable).");

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

inspection of any server with reflection, no .proto needed (like grpcurl;
reflection v1, then v1alpha), or without it, given -proto or -protoset:
  list [TARGET]
      The server's services, one per line, sorted.
  describe [TARGET] [SYMBOL]
      A service, method, message, enum or field in .proto form (without
      SYMBOL: every service). Methods may be written pkg.Svc/Method.
  call [TARGET] METHOD [-d JSON|@|@-|@FILE]
      Call METHOD (pkg.Svc/Method) with the request given as proto3 JSON
      (default {}; @ or @- reads standard input); print the response as
      JSON.
  TARGET, first among the arguments, stands for --target=TARGET.

flags (before or after COMMAND; "--" ends flags):
  --target=URI        server, HOST:PORT or grpc://HOST:PORT (gRPC), raw://HOST:PORT
                      (raw TCP), unix:///PATH (gRPC) or raw+unix:///PATH (raw on
                      a unix socket); HOST may be [IPv6] (default
                      grpc://127.0.0.1:50051)
  --timeout=DURATION  deadline of each call, e.g. 5s, 250ms (default 10s)
  --json              ls, echo: print responses as proto3 JSON; ls merges all pages
  --page_size=N       ls: entries per page asked of the server (default 0: server's)
  --no_follow_pages   ls: first page only; its next_page_token goes to stderr
  -l                  ls: long listing
  -d DATA             call: request JSON, @/@- for standard input, @FILE
  -proto FILE         list, describe, call: schema from FILE, not reflection
                      (repeatable; FILE relative to an -import-path)
  -import-path DIR    where -proto files and their imports are (repeatable;
                      default .)
  -protoset FILE      list, describe, call: schema from FILE, a serialized
                      FileDescriptorSet (protoc --descriptor_set_out
                      --include_imports), not reflection (repeatable)

exit status: 0 ok, 1 call failed (stderr: CODE_NAME: message), 2 usage error
)";

int UsageError(absl::string_view message) {
  std::cerr << "dualrpc: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

using Args = absl::Span<const std::string>;

// What a command runs with; `channel` reaches --target (or TARGET).
struct Invocation {
  std::shared_ptr<rpc::Channel> channel;
  CallOptions call;
  Args args;
};

absl::Status RunLsCommand(const Invocation& invocation) {
  LsOptions ls;
  if (!invocation.args.empty()) ls.path = invocation.args[0];
  ls.page_size = absl::GetFlag(FLAGS_page_size);
  ls.follow_pages = !absl::GetFlag(FLAGS_no_follow_pages);
  ls.long_format = absl::GetFlag(FLAGS_l);
  std::unique_ptr<FileServiceClient> client =
      MakeChannelFileServiceClient(invocation.channel);
  return RunLs(*client, invocation.call, ls, std::cout, std::cerr);
}

absl::Status RunEchoCommand(const Invocation& invocation) {
  EchoOptions echo;
  if (!invocation.args.empty()) echo.text = invocation.args[0];
  std::unique_ptr<FileServiceClient> client =
      MakeChannelFileServiceClient(invocation.channel);
  return RunEcho(*client, invocation.call, echo, std::cin, std::cout);
}

// The schema of list, describe and call: -proto/-protoset files, else the
// server's reflection.
absl::StatusOr<std::unique_ptr<DescriptorSource>> SchemaSource(
    const Invocation& invocation) {
  SchemaFiles files;
  files.proto_files = absl::GetFlag(FLAGS_proto);
  files.import_paths = absl::GetFlag(FLAGS_import_path);
  files.protosets = absl::GetFlag(FLAGS_protoset);
  return MakeDescriptorSource(files, invocation.channel.get(),
                              invocation.call.timeout);
}

absl::Status RunListCommand(const Invocation& invocation) {
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  return RunList(**source, std::cout);
}

absl::Status RunDescribeCommand(const Invocation& invocation) {
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  std::optional<std::string> symbol;
  if (!invocation.args.empty()) symbol = invocation.args[0];
  return RunDescribe(**source, symbol, std::cout);
}

absl::Status RunCallCommand(const Invocation& invocation) {
  absl::StatusOr<std::string> request_json =
      ReadRequestJson(absl::GetFlag(FLAGS_d), std::cin);
  if (!request_json.ok()) return request_json.status();
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  return RunCall(*invocation.channel, **source, invocation.args[0],
                 *request_json, invocation.call.timeout, std::cout);
}

struct Command {
  absl::string_view name;
  size_t min_args;
  size_t max_args;
  // Whether a first argument that parses as a target (client::ParseTarget:
  // grpc://..., raw://..., HOST:PORT, unix:...) is the target. Not for ls,
  // whose PATH may contain anything.
  bool target_argument;
  absl::Status (*run)(const Invocation&);
};

constexpr Command kCommands[] = {
    {"ls", 0, 1, false, RunLsCommand},
    {"echo", 0, 1, false, RunEchoCommand},
    {"list", 0, 0, true, RunListCommand},
    {"describe", 0, 1, true, RunDescribeCommand},
    {"call", 1, 1, true, RunCallCommand},
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
  Invocation invocation;
  invocation.args = Args(parsed->positional).subspan(1);
  std::string target = absl::GetFlag(FLAGS_target);
  if (command->target_argument && !invocation.args.empty() &&
      client::ParseTarget(invocation.args[0]).ok()) {
    target = invocation.args[0];
    invocation.args = invocation.args.subspan(1);
  }
  if (invocation.args.size() > command->max_args) {
    return UsageError("too many arguments for " + name +
                      " (quote TEXT that has spaces)");
  }
  if (invocation.args.size() < command->min_args) {
    return UsageError("missing arguments for " + name);
  }

  invocation.call.timeout = absl::GetFlag(FLAGS_timeout);
  invocation.call.json = absl::GetFlag(FLAGS_json);
  if (invocation.call.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel = MakeChannel(target);
  if (!channel.ok()) return UsageError(channel.status().message());
  invocation.channel = *std::move(channel);

  const absl::Status status = command->run(invocation);
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
