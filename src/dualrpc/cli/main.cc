// dualrpc — command-line client for dualrpc.v1.FileService, and a grpcurl-like
// inspector (list, describe, call) for any server, with reflection or with
// its .proto files or protosets, taking grpcurl's flags as grpcurl spells
// them.
//
// Exit status (exit_status.h): 0 success; 1 a local error; 2 usage error;
// 4 a health check answered other than SERVING; 64 + the gRPC status code
// when the RPC failed ("CODE_NAME: message" on stderr for every failure).

#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dualrpc/base/program_info.h"
#include "dualrpc/cli/channel_file_service_client.h"
#include "dualrpc/cli/command_channel.h"
#include "dualrpc/cli/commands.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/cli/file_service_client.h"
#include "dualrpc/cli/flag_parsing.h"
#include "dualrpc/cli/inspect_commands.h"
#include "dualrpc/cli/request_headers.h"
#include "dualrpc/client/target.h"

ABSL_FLAG(std::string, target, "grpc://127.0.0.1:50051",
          "Server to call: HOST:PORT or grpc://HOST:PORT (gRPC), "
          "raw://HOST:PORT, grpcs://HOST:PORT, raws://HOST:PORT (TLS), "
          "unix:///PATH (gRPC), raw+unix:///PATH; several servers as "
          "H1:P1,H2:P2 on any TCP scheme, or dns:///NAME:PORT, "
          "raw+dns:///NAME:PORT.");
ABSL_FLAG(absl::Duration, timeout, dualrpc::cli::kDefaultCallTimeout,
          "Deadline of each call, e.g. 5s or 250ms.");
ABSL_FLAG(bool, json, false, "Print responses as proto3 JSON.");
ABSL_FLAG(int32_t, page_size, 0,
          "ls: entries per page asked of the server (0: server default).");
ABSL_FLAG(bool, no_follow_pages, false,
          "ls: fetch only the first page; print its next_page_token on "
          "stderr.");
ABSL_FLAG(bool, l, false, "ls: long listing.");
ABSL_FLAG(bool, R, false,
          "ls: the whole tree beneath PATH (one WalkTree stream), as ls -R.");
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
ABSL_FLAG(bool, v, false,
          "call: also print the method, response metadata and counts.");
ABSL_FLAG(std::string, format, "",
          "call: json (default) or text; ls, echo: json is --json.");
ABSL_FLAG(bool, emit_defaults, false,
          "call: JSON output includes fields at their default value.");
ABSL_FLAG(bool, msg_template, false,
          "describe: a message's description ends in a JSON template of it.");
ABSL_FLAG(double, max_time, 0,
          "Seconds the whole command may take, every call included (0: no "
          "limit).");
ABSL_FLAG(double, connect_timeout, 0,
          "Seconds one connect may take (0: the default, 5).");
ABSL_FLAG(double, keepalive_time, 0,
          "Seconds between keepalive PINGs on an idle connection (0: none).");
ABSL_FLAG(std::string, authority, "", "grpc://: the :authority of every call.");
ABSL_FLAG(bool, plaintext, false,
          "Plaintext only: an error with a TLS flag or target.");
ABSL_FLAG(std::string, cacert, "",
          "TLS: PEM CA bundle the server's certificate must verify against.");
ABSL_FLAG(std::string, cert, "", "TLS: PEM client certificate (mTLS).");
ABSL_FLAG(std::string, key, "", "TLS: PEM private key of -cert.");
ABSL_FLAG(bool, insecure, false,
          "TLS: do not verify the server's certificate.");
ABSL_FLAG(std::string, servername, "",
          "TLS: the name the server's certificate must match (and SNI).");

namespace dualrpc::cli {
namespace {

constexpr absl::string_view kUsage =
    R"usage(usage: dualrpc [FLAGS] COMMAND [ARGS]

commands:
  ls [-l] [-R] [--page_size=N] [--no_follow_pages] [PATH]
      List a directory beneath the served root (default: the root), one
      name per line, following every page. -l: MODE SIZE MTIME NAME[ -> TARGET].
      -R: the whole tree, as ls -R ("DIR:" then its entries, per directory),
      from one WalkTree stream; unreadable directories are reported on
      stderr as ls does, the rest listed, and the exit status is then 1.
  echo [TEXT]
      Send TEXT (or, without it, standard input up to EOF) and print the
      echoed payload (a newline follows only TEXT).

inspection of any server with reflection, no .proto needed (like grpcurl;
reflection v1, then v1alpha), or without it, given -proto or -protoset:
  list [TARGET] [SERVICE]
      The server's services, one per line, sorted; with SERVICE, its methods
      (pkg.Svc.Method), one per line.
  describe [TARGET] [SYMBOL] [-msg-template]
      A service, method, message, enum or field in .proto form (without
      SYMBOL: every service). Methods may be written pkg.Svc/Method.
      -msg-template: after a message, a JSON template of it (every field at
      its default, nested messages filled one level, one element in each
      repeated field and map).
  call [TARGET] METHOD [-d JSON|@|@-|@FILE]
      Call METHOD (pkg.Svc/Method) with the request given as proto3 JSON
      (default {}; @ or @- reads standard input); print the response.
      Streaming methods as grpcurl: -d holds one JSON document per request
      (concatenated or whitespace-separated), sent as read (@-: a bidi
      session is interactive); each response is printed as it arrives;
      --timeout and -max-time cover the whole stream.
      grpc.health.v1.Health/Check (this method only) is judged as health
      judges it: the response is printed, and the exit status is 4 unless
      its status is SERVING.
  health [TARGET] [SERVICE]
      A probe, as grpc_health_probe: calls grpc.health.v1.Health/Check for
      SERVICE (default "": the whole server) on either transport and prints
      the answer's status (SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN).
      Exits 0 only for SERVING; 4 for any other answer; 69 (NOT_FOUND)
      for a service the server does not know; 78 (UNAVAILABLE) when the
      server cannot be reached (a draining server has closed its ports),
      68 when --timeout (grpc_health_probe's -rpc-timeout) runs out.
      -connect-timeout, the TLS flags and -H apply as to every command.
  TARGET, first among the arguments, stands for --target=TARGET.

Flags go before or after COMMAND, as -flag or --flag, with "=VALUE" or the
value as the next argument; '-' and '_' in names are the same; "--" ends
flags. SECONDS may have a fraction (0.5).
  --help              this text, then every flag with its default
  --version           the version and build type ("dualrpc 0.1.0 (Release build)")
  --target=URI        server, HOST:PORT or grpc://HOST:PORT (gRPC), raw://HOST:PORT
                      (raw TCP), grpcs://HOST:PORT (gRPC over TLS),
                      raws://HOST:PORT (raw over TLS), unix:///PATH (gRPC) or
                      raw+unix:///PATH (raw on a unix socket); HOST may be
                      [IPv6] (default grpc://127.0.0.1:50051). A bare
                      HOST:PORT with a TLS flag below means grpcs://.
                      Several servers: H1:P1,H2:P2 after any TCP scheme (IP
                      literals on gRPC), dns:///NAME:PORT (gRPC),
                      raw+dns:///NAME:PORT, grpcs+dns:///, raws+dns:///
  --timeout=DURATION  deadline of each call, e.g. 5s, 250ms (default 10s)
  -max-time SECONDS   deadline of the whole command, reflection included
                      (default 0: none); each call gets the lesser of the two
  -connect-timeout SECONDS
                      longest wait for the connection: on grpc:// the
                      command first connects (blocking, as grpcurl does) and
                      fails (UNAVAILABLE, exit 1) if it cannot; on raw:// it
                      bounds each connect (default 5)
  -keepalive-time SECONDS
                      grpc://: HTTP/2 keepalive PING interval (default: none).
                      raw://: accepted and unused (the raw client sends no PING)
  -authority NAME     grpc://: the :authority (virtual host) of every call.
                      raw://: refused (usage error): the raw protocol has no
                      authority, and ignoring it would route as if unset
  -cacert FILE        TLS: PEM CA bundle the server's certificate must verify
                      against (default: the system's trust store)
  -cert FILE          TLS: PEM client certificate, for servers that require one
                      (mTLS); needs -key
  -key FILE           TLS: PEM private key of -cert
  -insecure           TLS: do not verify the server's certificate (still
                      encrypted)
  -servername NAME    TLS: the name the server's certificate must match, and
                      the SNI sent, instead of the target's host (or of
                      -authority, which grpcs:// also verifies when given)
  -plaintext          plaintext only (the default for HOST:PORT): a usage error
                      with a TLS flag or a grpcs:// or raws:// target
  -H 'NAME: VALUE'    request metadata for every call, the RPC's and
                      reflection's; repeatable. A NAME ending in -bin takes
                      a base64 VALUE. NAME: [0-9a-z_.-], not "grpc-";
                      upper case is lowered. Both transports carry it
  -rpc-header 'NAME: VALUE'
                      as -H, for the RPC only (call's METHOD, ls, echo)
  -reflect-header 'NAME: VALUE'
                      as -H, for reflection only (list, describe, call)
  -v                  call: print, as grpcurl -v, the resolved method, the
                      response headers and trailers and "Sent N request(s)
                      and received M response(s)" (for a stream, both
                      metadata blocks follow its responses). The raw
                      protocol's response metadata are all trailers: over
                      raw:// the headers block is (empty)
  -format json|text   call: the response as proto3 JSON indented by 2 spaces
                      (default) or protobuf text format. ls, echo: json is
                      the same as --json
  -emit-defaults      call: JSON output includes fields at their default values
  --json              ls, echo: print responses as proto3 JSON; ls merges all pages
  --page_size=N       ls: entries per page asked of the server (default 0: server's)
  --no_follow_pages   ls: first page only; its next_page_token goes to stderr
  -l                  ls: long listing
  -R                  ls: recursive, as ls -R (combines with -l)
  -d DATA             call: request JSON, @/@- for standard input, @FILE
  -proto FILE         list, describe, call: schema from FILE, not reflection
                      (repeatable; FILE relative to an -import-path)
  -import-path DIR    where -proto files and their imports are (repeatable;
                      default .)
  -protoset FILE      list, describe, call: schema from FILE, a serialized
                      FileDescriptorSet (protoc --descriptor_set_out
                      --include_imports), not reflection (repeatable)

exit status (as grpcurl's; 4 as grpc_health_probe's):
  0       success
  1       local error: bad request JSON, unknown method or symbol, failed
          reflection, unreadable -d file; on grpc:// with -connect-timeout,
          no connection within it
  2       usage error: bad flag, flag value, command, argument count, target
          or header
  4       health, and call of grpc.health.v1.Health/Check: the server
          answered, and not SERVING
  64+N    the RPC failed with gRPC status code N, e.g. 68 DEADLINE_EXCEEDED,
          69 NOT_FOUND, 71 PERMISSION_DENIED, 76 UNIMPLEMENTED, 78 UNAVAILABLE
  Every failure is also written to stderr as CODE_NAME: message.
)usage";

int UsageError(absl::string_view message) {
  std::cerr << "dualrpc: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

using Args = absl::Span<const std::string>;

// What a command runs with: `rpc_channel` for the RPCs the command is for
// (their failures exit 64 + code), `reflection_channel` for the reflection
// calls that prepare them; both reach --target (or TARGET) through one
// connection, each adding its own headers and the -max-time deadline.
struct Invocation {
  std::shared_ptr<rpc::Channel> rpc_channel;
  std::shared_ptr<rpc::Channel> reflection_channel;
  CallOptions call;
  PrintOptions print;
  bool verbose = false;
  Args args;
};

absl::Status RunLsCommand(const Invocation& invocation) {
  LsOptions ls;
  if (!invocation.args.empty()) ls.path = invocation.args[0];
  ls.page_size = absl::GetFlag(FLAGS_page_size);
  ls.follow_pages = !absl::GetFlag(FLAGS_no_follow_pages);
  ls.long_format = absl::GetFlag(FLAGS_l);
  ls.recursive = absl::GetFlag(FLAGS_R);
  if (ls.recursive) {
    return RunLsRecursive(*invocation.rpc_channel, invocation.call, ls,
                          std::cout, std::cerr);
  }
  std::unique_ptr<FileServiceClient> client =
      MakeChannelFileServiceClient(invocation.rpc_channel);
  return RunLs(*client, invocation.call, ls, std::cout, std::cerr);
}

absl::Status RunEchoCommand(const Invocation& invocation) {
  EchoOptions echo;
  if (!invocation.args.empty()) echo.text = invocation.args[0];
  std::unique_ptr<FileServiceClient> client =
      MakeChannelFileServiceClient(invocation.rpc_channel);
  return RunEcho(*client, invocation.call, echo, std::cin, std::cout);
}

// The schema of list, describe and call: -proto/-protoset files, else the
// server's reflection over the reflection channel (its own headers).
absl::StatusOr<std::unique_ptr<DescriptorSource>> SchemaSource(
    const Invocation& invocation) {
  SchemaFiles files;
  files.proto_files = absl::GetFlag(FLAGS_proto);
  files.import_paths = absl::GetFlag(FLAGS_import_path);
  files.protosets = absl::GetFlag(FLAGS_protoset);
  return MakeDescriptorSource(files, invocation.reflection_channel.get(),
                              invocation.call.timeout);
}

absl::Status RunListCommand(const Invocation& invocation) {
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  std::optional<std::string> service;
  if (!invocation.args.empty()) service = invocation.args[0];
  return RunList(**source, service, std::cout);
}

absl::Status RunDescribeCommand(const Invocation& invocation) {
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  std::optional<std::string> symbol;
  if (!invocation.args.empty()) symbol = invocation.args[0];
  DescribeOptions describe;
  describe.msg_template = absl::GetFlag(FLAGS_msg_template);
  return RunDescribe(**source, symbol, describe, std::cout);
}

absl::Status RunCallCommand(const Invocation& invocation) {
  // -d @ and @- stream standard input: a client-streaming or bidi call
  // sends each request as it is read. Anything else is read whole first.
  const std::string data = absl::GetFlag(FLAGS_d);
  std::istringstream given;
  std::istream* requests = &std::cin;
  if (data != "@" && data != "@-") {
    absl::StatusOr<std::string> request_json = ReadRequestJson(data, std::cin);
    if (!request_json.ok()) return request_json.status();
    given.str(*std::move(request_json));
    requests = &given;
  }
  absl::StatusOr<std::unique_ptr<DescriptorSource>> source =
      SchemaSource(invocation);
  if (!source.ok()) return source.status();
  CallCommandOptions call;
  call.timeout = invocation.call.timeout;
  call.print = invocation.print;
  call.verbose = invocation.verbose;
  return RunCall(*invocation.rpc_channel, **source, invocation.args[0],
                 *requests, call, std::cout);
}

absl::Status RunHealthCommand(const Invocation& invocation) {
  HealthOptions health;
  if (!invocation.args.empty()) health.service = invocation.args[0];
  health.timeout = invocation.call.timeout;
  return RunHealth(*invocation.rpc_channel, health, std::cout);
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
    {"list", 0, 1, true, RunListCommand},
    {"describe", 0, 1, true, RunDescribeCommand},
    {"call", 1, 1, true, RunCallCommand},
    {"health", 0, 1, true, RunHealthCommand},
};

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : kCommands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

// -max-time and the like: SECONDS as grpcurl takes them, a float; 0 (the
// default) means "not given". Negative or not finite is a usage error.
absl::StatusOr<std::optional<absl::Duration>> SecondsFlag(
    absl::string_view name, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("-", name, " must be a non-negative number of seconds"));
  }
  if (seconds == 0) return std::nullopt;
  return absl::Seconds(seconds);
}

// Request metadata from the header flags named (repeatable flags collected
// by ParseCommandLineFlags), in the order of `names`.
absl::StatusOr<rpc::Metadata> HeadersFrom(const ParsedCommandLine& parsed,
                                          std::vector<std::string> names) {
  std::vector<std::string> headers;
  for (const std::string& name : names) {
    auto given = parsed.repeated.find(name);
    if (given == parsed.repeated.end()) continue;
    headers.insert(headers.end(), given->second.begin(), given->second.end());
  }
  return ParseRequestHeaders(headers);
}

int Main(absl::Span<const char* const> argv) {
  const absl::Time start = absl::Now();
  const std::vector<std::string> header_flags = {"H", "rpc_header",
                                                 "reflect_header"};
  absl::StatusOr<ParsedCommandLine> parsed =
      ParseCommandLineFlags(argv, header_flags);
  if (!parsed.ok()) return UsageError(parsed.status().message());
  if (parsed->help_requested) {
    std::cout << kUsage << "\nevery flag, with its default:\n"
              << base::FlagsHelpText();
    return kExitSuccess;
  }
  if (parsed->version_requested) {
    std::cout << base::VersionLine("dualrpc") << '\n';
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
  const std::string format = absl::GetFlag(FLAGS_format);
  if (!format.empty()) {
    absl::StatusOr<MessageFormat> parsed_format = ParseMessageFormat(format);
    if (!parsed_format.ok())
      return UsageError(parsed_format.status().message());
    invocation.print.format = *parsed_format;
    if (*parsed_format == MessageFormat::kJson) invocation.call.json = true;
  }
  invocation.print.emit_defaults = absl::GetFlag(FLAGS_emit_defaults);
  invocation.verbose = absl::GetFlag(FLAGS_v);

  absl::StatusOr<std::optional<absl::Duration>> max_time =
      SecondsFlag("max-time", absl::GetFlag(FLAGS_max_time));
  if (!max_time.ok()) return UsageError(max_time.status().message());
  ChannelSettings settings;
  absl::StatusOr<std::optional<absl::Duration>> connect_timeout =
      SecondsFlag("connect-timeout", absl::GetFlag(FLAGS_connect_timeout));
  if (!connect_timeout.ok()) {
    return UsageError(connect_timeout.status().message());
  }
  settings.connect_timeout = *connect_timeout;
  absl::StatusOr<std::optional<absl::Duration>> keepalive_time =
      SecondsFlag("keepalive-time", absl::GetFlag(FLAGS_keepalive_time));
  if (!keepalive_time.ok()) {
    return UsageError(keepalive_time.status().message());
  }
  settings.keepalive_time = keepalive_time->value_or(absl::InfiniteDuration());
  settings.authority = absl::GetFlag(FLAGS_authority);
  settings.plaintext = absl::GetFlag(FLAGS_plaintext);
  settings.tls.ca_file = absl::GetFlag(FLAGS_cacert);
  settings.tls.cert_file = absl::GetFlag(FLAGS_cert);
  settings.tls.key_file = absl::GetFlag(FLAGS_key);
  settings.tls.insecure_skip_verify = absl::GetFlag(FLAGS_insecure);
  settings.tls.server_name = absl::GetFlag(FLAGS_servername);

  CommandChannelOptions rpc_options;
  CommandChannelOptions reflection_options;
  absl::StatusOr<rpc::Metadata> rpc_headers =
      HeadersFrom(*parsed, {"H", "rpc_header"});
  if (!rpc_headers.ok()) return UsageError(rpc_headers.status().message());
  absl::StatusOr<rpc::Metadata> reflection_headers =
      HeadersFrom(*parsed, {"H", "reflect_header"});
  if (!reflection_headers.ok()) {
    return UsageError(reflection_headers.status().message());
  }
  rpc_options.metadata = *std::move(rpc_headers);
  reflection_options.metadata = *std::move(reflection_headers);
  rpc_options.rpc_errors = true;
  if (max_time->has_value()) {
    rpc_options.deadline = reflection_options.deadline = start + **max_time;
  }

  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      MakeChannel(target, settings);
  if (!channel.ok()) {
    // A -connect-timeout dial that found no server: grpcurl's "Failed to
    // dial", a local failure. Anything else is a bad target or flag.
    if (absl::IsUnavailable(channel.status())) {
      std::cerr << FormatStatusForCli(channel.status()) << '\n';
      return kExitLocalError;
    }
    return UsageError(channel.status().message());
  }
  invocation.rpc_channel =
      std::make_shared<CommandChannel>(*channel, std::move(rpc_options));
  invocation.reflection_channel = std::make_shared<CommandChannel>(
      *std::move(channel), std::move(reflection_options));

  const absl::Status status = command->run(invocation);
  std::cout.flush();
  if (!status.ok()) std::cerr << FormatStatusForCli(status) << '\n';
  return ExitStatusFor(status);
}

}  // namespace
}  // namespace dualrpc::cli

int main(int argc, char** argv) {
  return dualrpc::cli::Main(
      absl::Span<const char* const>(argv, static_cast<size_t>(argc)));
}
