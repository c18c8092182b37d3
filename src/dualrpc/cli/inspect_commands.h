#ifndef DUALRPC_CLI_INSPECT_COMMANDS_H_
#define DUALRPC_CLI_INSPECT_COMMANDS_H_

#include <iosfwd>
#include <istream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/cli/descriptor_source.h"
#include "dualrpc/cli/message_printing.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::cli {

// grpcurl-like inspection of any server, on any transport: names and
// descriptors come from `source` (the server's reflection, or .proto files or
// protosets on this side: DescriptorSource), messages are DynamicMessages,
// requests and responses are proto3 JSON.

// `list [SERVICE]`: without `service`, the server's services, sorted, one
// per line; with it, that service's methods as grpcurl prints them, fully
// qualified ("pkg.Svc.Method"), in declaration order. A `service` that is
// not a service is NOT_FOUND.
absl::Status RunList(DescriptorSource& source,
                     const std::optional<std::string>& service,
                     std::ostream& out);

struct DescribeOptions {
  // For a message, also print "Message template:" and a JSON instance of it
  // (MessageTemplate), as grpcurl's -msg-template does.
  bool msg_template = false;
};

// `describe [SYMBOL]`: "NAME is a service:" (or method, message, enum,
// field, enum value, oneof, extension) and then the element in .proto form
// (its descriptor's DebugString). SYMBOL may be "pkg.Svc/Method" or
// "/pkg.Svc/Method" for a method and may start with '.'. Without SYMBOL,
// every service, separated by blank lines. An unknown symbol is NOT_FOUND.
absl::Status RunDescribe(DescriptorSource& source,
                         const std::optional<std::string>& symbol,
                         const DescribeOptions& options, std::ostream& out);

struct CallCommandOptions {
  // The call's deadline, relative to its start (for a stream, of the
  // whole stream).
  absl::Duration timeout = absl::Seconds(10);
  PrintOptions print;
  // grpcurl's -v: around the response, "Resolved method descriptor:", the
  // response headers and trailers (rpc::CallOptions::response_headers and
  // response_metadata; over raw every response metadata entry is a trailer,
  // so its headers block is "(empty)") and "Sent N request(s) and received
  // M response(s)"; see RunCall for streams.
  bool verbose = false;
};

// `call METHOD`: METHOD is "pkg.Svc/Method", "/pkg.Svc/Method" or
// "pkg.Svc.Method". Resolves it through `source`, builds the requests from
// `requests` (proto3 JSON; INVALID_ARGUMENT if one does not parse as the
// request type), calls it on `channel` with `timeout` as the deadline of
// the whole call and writes the responses as `options.print` says.
//
// Per kind, as grpcurl:
// - unary: all of `requests` is the one request; one response is written.
// - server streaming: `requests` holds one JSON document (none: an empty
//   request; two or more: INVALID_ARGUMENT); each response is written, and
//   flushed, as it arrives.
// - client streaming and bidi: each JSON document of `requests`
//   (JsonDocumentReader: concatenated or whitespace-separated) is a
//   request, sent as soon as it has been read, then the call half-closes;
//   responses are written as they arrive, for bidi while requests are still
//   being read (so `requests` may be an interactive standard input). A
//   request that does not parse cancels the call.
// With `options.verbose`, for a stream the headers block follows the
// responses (transports fill it in by the call's end) and the count line
// says "Sent N request(s) and received M response(s)".
//
// A unary call of kHealthCheckMethod that succeeds is judged as `health`
// judges it: its response is written, and the result is
// ServingStatusResult of its status (so not SERVING exits 4).
//
// A failed call's status comes back as the channel gave it (a
// CommandChannel may have marked it as an RPC error); the failures found
// on this side (an unknown method, bad JSON) are not marked, and win over
// the call's status (CANCELLED, when this side cancelled it).
absl::Status RunCall(rpc::Channel& channel, DescriptorSource& source,
                     absl::string_view method, std::istream& requests,
                     const CallCommandOptions& options, std::ostream& out);
// The same with the requests in a string.
absl::Status RunCall(rpc::Channel& channel, DescriptorSource& source,
                     absl::string_view method, const std::string& request_json,
                     const CallCommandOptions& options, std::ostream& out);

// The method whose answers `call` and `health` judge, as
// grpc_health_probe does (its full name).
inline constexpr char kHealthCheckMethod[] = "grpc.health.v1.Health.Check";

// What a health check's answer means for the command: OK for SERVING;
// for any other grpc.health.v1 ServingStatus (NOT_SERVING, SERVICE_UNKNOWN,
// UNKNOWN, or a number this build does not know) UNAVAILABLE, marked
// AsNotServing (exit 4, exit_status.h), naming the status and `service`
// ("" is the whole server).
absl::Status ServingStatusResult(int serving_status, absl::string_view service);

struct HealthOptions {
  // What to ask about: "" (the whole server) or a service's full name.
  std::string service;
  // Deadline of the Check call (grpc_health_probe's -rpc-timeout).
  absl::Duration timeout = absl::Seconds(10);
};

// `health [SERVICE]`, as grpc_health_probe: one grpc.health.v1.Health/Check
// of `options.service` on `channel` (any transport). When the server
// answers, writes the status's name ("SERVING", "NOT_SERVING", ...; the
// number for one this build does not know) and a newline to `out`, and
// returns ServingStatusResult: OK only for SERVING. A failed call (an
// unknown service is NOT_FOUND, an unreachable server UNAVAILABLE) writes
// nothing and comes back as the channel gave it.
absl::Status RunHealth(rpc::Channel& channel, const HealthOptions& options,
                       std::ostream& out);

// The request JSON of `call` from its -d value: "" means "{}", "@" and "@-"
// mean all of `in`, "@PATH" the file PATH, anything else is the JSON itself.
absl::StatusOr<std::string> ReadRequestJson(const std::string& data_flag,
                                            std::istream& in);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_INSPECT_COMMANDS_H_
