#include "dualrpc/cli/inspect_commands.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <istream>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/cli/exit_status.h"
#include "dualrpc/cli/json_documents.h"
#include "dualrpc/cli/request_headers.h"
#include "dualrpc/cli/stream_call.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/client_call.h"
#include "grpc/health/v1/health.pb.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// Response metadata in grpcurl's -v form: "key: value" lines, "(empty)" for
// none.
std::string FormatMetadata(const rpc::Metadata& metadata) {
  if (metadata.empty()) return "(empty)\n";
  std::string text;
  for (const auto& [key, value] : metadata) {
    absl::StrAppend(&text, key, ": ", DisplayMetadataValue(key, value), "\n");
  }
  return text;
}

// A symbol as descriptor pools name it: "pkg.Svc.Method" for
// "/pkg.Svc/Method" or "pkg.Svc/Method"; no leading '.'.
std::string PoolName(absl::string_view symbol) {
  if (!absl::ConsumePrefix(&symbol, "/")) absl::ConsumePrefix(&symbol, ".");
  return absl::StrReplaceAll(symbol, {{"/", "."}});
}

std::string Titled(const std::string& name, absl::string_view kind,
                   const std::string& text) {
  return absl::StrCat(name, " is ", kind, ":\n", text);
}

// `name`, already loaded into `pool`, in grpcurl's "X is a Y:" form.
absl::StatusOr<std::string> Describe(const DescriptorPool& pool,
                                     const std::string& name) {
  if (const auto* service = pool.FindServiceByName(name)) {
    return Titled(name, "a service", service->DebugString());
  }
  if (const auto* method = pool.FindMethodByName(name)) {
    return Titled(name, "a method", method->DebugString());
  }
  if (const auto* message = pool.FindMessageTypeByName(name)) {
    return Titled(name, "a message", message->DebugString());
  }
  if (const auto* enum_type = pool.FindEnumTypeByName(name)) {
    return Titled(name, "an enum", enum_type->DebugString());
  }
  if (const auto* field = pool.FindFieldByName(name)) {
    return Titled(name, "a field", field->DebugString());
  }
  if (const auto* extension = pool.FindExtensionByName(name)) {
    return Titled(name, "an extension", extension->DebugString());
  }
  if (const auto* value = pool.FindEnumValueByName(name)) {
    return Titled(name, "an enum value", value->DebugString());
  }
  if (const auto* oneof = pool.FindOneofByName(name)) {
    return Titled(name, "a oneof", oneof->DebugString());
  }
  // A package: a symbol, but not an element that has a .proto form.
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", name, "\" is a package; describe one of its elements"));
}

absl::StatusOr<std::string> LoadAndDescribe(DescriptorSource& source,
                                            const std::string& name) {
  if (absl::Status loaded = source.LoadSymbol(name); !loaded.ok()) {
    return loaded;
  }
  return Describe(source.pool(), name);
}

// The method `text` names ("pkg.Svc/Method", "/pkg.Svc/Method",
// "pkg.Svc.Method"), loaded through `source`.
absl::StatusOr<const MethodDescriptor*> ResolveMethod(DescriptorSource& source,
                                                      absl::string_view text) {
  absl::string_view name = text;
  if (!absl::ConsumePrefix(&name, "/")) absl::ConsumePrefix(&name, ".");
  absl::string_view::size_type split = name.rfind('/');
  if (split == absl::string_view::npos) split = name.rfind('.');
  if (split == absl::string_view::npos || split == 0 ||
      split + 1 == name.size() ||
      name.substr(0, split).find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a method name (package.Service/Method)"));
  }
  const std::string service_name(name.substr(0, split));
  const std::string method_name(name.substr(split + 1));
  if (absl::Status loaded = source.LoadSymbol(service_name); !loaded.ok()) {
    return loaded;
  }
  const ServiceDescriptor* service =
      source.pool().FindServiceByName(service_name);
  if (service == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("\"", service_name, "\" is not a service"));
  }
  const MethodDescriptor* method = service->FindMethodByName(method_name);
  if (method == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("service ", service_name, " has no method ", method_name));
  }
  return method;
}

// Unary call of `method` on `channel`, blocking.
absl::Status CallAndWait(rpc::Channel& channel, const MethodDescriptor& method,
                         const Message& request, Message* response,
                         absl::Duration timeout,
                         rpc::Metadata* response_headers,
                         rpc::Metadata* response_trailers) {
  rpc::CallOptions options;
  options.timeout = timeout;
  options.response_headers = response_headers;
  options.response_metadata = response_trailers;
  absl::Status status;
  absl::Notification finished;
  channel.StartUnaryCall(
      absl::StrCat("/", method.service()->full_name(), "/", method.name()),
      request, response, options, rpc::WaitingDone(&status, &finished));
  finished.WaitForNotification();
  return status;
}

// The call kind of `method`, from its descriptor.
rpc::MethodKind KindOf(const MethodDescriptor& method) {
  if (method.client_streaming()) {
    return method.server_streaming() ? rpc::MethodKind::kBidiStreaming
                                     : rpc::MethodKind::kClientStreaming;
  }
  return method.server_streaming() ? rpc::MethodKind::kServerStreaming
                                   : rpc::MethodKind::kUnary;
}

std::string Counted(int n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

// `json` parsed as a request of `method`.
absl::Status ParseRequest(const MethodDescriptor& method,
                          const std::string& json, Message* request) {
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(json, request);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request is not a ", method.input_type()->full_name(),
                     " in JSON: ", parsed.message().ToString()));
  }
  return absl::OkStatus();
}

// The responses of a streaming call as they arrive, each as
// `options.print` says (preceded by grpcurl -v's "Response contents:"),
// flushed one by one so that an interactive session sees each at once.
// The first failure to print cancels the call and is kept in `*failure`.
int PrintResponses(StreamCall& call, const Message& prototype,
                   const CallCommandOptions& options, std::ostream& out,
                   absl::Status* failure) {
  int received = 0;
  std::unique_ptr<Message> response(prototype.New());
  while (call.Read(response.get())) {
    ++received;
    absl::StatusOr<std::string> contents =
        FormatMessage(*response, options.print);
    if (!contents.ok()) {
      *failure = contents.status();
      call.Cancel();
      break;
    }
    if (options.verbose) out << "\nResponse contents:\n";
    out << *contents << std::flush;
    response->Clear();
  }
  return received;
}

// Sends the requests of a client-streaming or bidi call, one per JSON
// document of `requests`, each as soon as it has been read, then
// half-closes. A document that does not parse cancels the call and is
// kept in `*failure`; a call that ended stops the sending.
int SendRequests(StreamCall& call, const MethodDescriptor& method,
                 const Message& prototype, std::istream& requests,
                 absl::Status* failure) {
  JsonDocumentReader reader(requests);
  int sent = 0;
  std::unique_ptr<Message> request(prototype.New());
  while (true) {
    absl::StatusOr<std::optional<std::string>> document = reader.Next();
    absl::Status parsed = document.status();
    if (parsed.ok() && !document->has_value()) break;
    request->Clear();
    if (parsed.ok()) parsed = ParseRequest(method, **document, request.get());
    if (!parsed.ok()) {
      *failure = parsed;
      call.Cancel();
      return sent;
    }
    if (!call.Write(*request)) return sent;
    ++sent;
  }
  call.WritesDone();
  return sent;
}

// "SERVING", "NOT_SERVING", ...; the number for a status this build does
// not know.
std::string ServingStatusName(int serving_status) {
  using ::grpc::health::v1::HealthCheckResponse;
  if (!HealthCheckResponse::ServingStatus_IsValid(serving_status)) {
    return absl::StrCat(serving_status);
  }
  return HealthCheckResponse::ServingStatus_Name(
      static_cast<HealthCheckResponse::ServingStatus>(serving_status));
}

// ServingStatusResult for the answer of a call of kHealthCheckMethod,
// read through reflection (the messages may be dynamic ones); OK for any
// other method.
absl::Status JudgeHealthAnswer(const MethodDescriptor& method,
                               const Message& request,
                               const Message& response) {
  if (method.full_name() != kHealthCheckMethod) return absl::OkStatus();
  const FieldDescriptor* status =
      response.GetDescriptor()->FindFieldByName("status");
  const FieldDescriptor* service =
      request.GetDescriptor()->FindFieldByName("service");
  if (status == nullptr || status->type() != FieldDescriptor::TYPE_ENUM ||
      service == nullptr || service->type() != FieldDescriptor::TYPE_STRING) {
    return absl::InternalError(absl::StrCat(
        "the schema's ", kHealthCheckMethod,
        " is not grpc.health.v1's: no status or service field"));
  }
  return ServingStatusResult(
      response.GetReflection()->GetEnumValue(response, status),
      request.GetReflection()->GetString(request, service));
}

// `call` of a streaming method: see RunCall.
absl::Status CallStreaming(rpc::Channel& channel,
                           const MethodDescriptor& method,
                           DynamicMessageFactory& factory,
                           std::istream& requests,
                           const CallCommandOptions& options,
                           std::ostream& out) {
  const rpc::MethodKind kind = KindOf(method);
  const Message& request_prototype = *factory.GetPrototype(method.input_type());
  const Message& response_prototype =
      *factory.GetPrototype(method.output_type());
  // A server-streaming call's one request is read before the call starts.
  std::unique_ptr<Message> single_request;
  if (!rpc::ClientStreams(kind)) {
    JsonDocumentReader reader(requests);
    absl::StatusOr<std::optional<std::string>> first = reader.Next();
    if (!first.ok()) return first.status();
    single_request.reset(request_prototype.New());
    if (first->has_value()) {
      absl::Status parsed = ParseRequest(method, **first, single_request.get());
      if (!parsed.ok()) return parsed;
      absl::StatusOr<std::optional<std::string>> second = reader.Next();
      if (!second.ok()) return second.status();
      if (second->has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            method.full_name(),
            " is server-streaming: it takes one request, and -d has more"));
      }
    }
  }

  rpc::Metadata response_headers;
  rpc::Metadata response_trailers;
  rpc::CallOptions call_options;
  call_options.timeout = options.timeout;
  if (options.verbose) {
    call_options.response_headers = &response_headers;
    call_options.response_metadata = &response_trailers;
    out << "\nResolved method descriptor:\n" << method.DebugString();
  }
  absl::Status local_failure;  // a request that did not parse
  absl::Status print_failure;  // a response that did not print
  int sent = 0;
  int received = 0;
  absl::Status status;
  {
    StreamCall call(
        channel,
        absl::StrCat("/", method.service()->full_name(), "/", method.name()),
        kind, call_options);
    if (single_request != nullptr) {
      if (call.Write(*single_request)) sent = 1;
      received = PrintResponses(call, response_prototype, options, out,
                                &print_failure);
    } else if (kind == rpc::MethodKind::kClientStreaming) {
      sent = SendRequests(call, method, request_prototype, requests,
                          &local_failure);
      received = PrintResponses(call, response_prototype, options, out,
                                &print_failure);
    } else {
      // Bidi: responses are printed while requests are still being read, so
      // that a session on standard input is interactive. `out` is the
      // printer's alone until it is joined.
      std::thread printer([&] {
        received = PrintResponses(call, response_prototype, options, out,
                                  &print_failure);
      });
      sent = SendRequests(call, method, request_prototype, requests,
                          &local_failure);
      printer.join();
    }
    status = call.Finish();
  }
  if (options.verbose) {
    // Transports fill the headers in by the call's end only, so both
    // metadata blocks follow the responses.
    out << "\nResponse headers received:\n" << FormatMetadata(response_headers);
    out << "\nResponse trailers received:\n"
        << FormatMetadata(response_trailers);
    out << "Sent " << Counted(sent, "request") << " and received "
        << Counted(received, "response") << "\n";
  }
  if (!local_failure.ok()) return local_failure;
  if (!print_failure.ok()) return print_failure;
  return status;
}

}  // namespace

absl::Status RunList(DescriptorSource& source,
                     const std::optional<std::string>& service,
                     std::ostream& out) {
  if (!service.has_value()) {
    absl::StatusOr<std::vector<std::string>> services = source.ListServices();
    if (!services.ok()) return services.status();
    for (const std::string& name : *services) out << name << '\n';
    return absl::OkStatus();
  }
  const std::string name = PoolName(*service);
  if (absl::Status loaded = source.LoadSymbol(name); !loaded.ok()) {
    return loaded;
  }
  const ServiceDescriptor* descriptor = source.pool().FindServiceByName(name);
  if (descriptor == nullptr) {
    return absl::NotFoundError(absl::StrCat("\"", name, "\" is not a service"));
  }
  for (int i = 0; i < descriptor->method_count(); ++i) {
    out << descriptor->method(i)->full_name() << '\n';
  }
  return absl::OkStatus();
}

absl::Status RunDescribe(DescriptorSource& source,
                         const std::optional<std::string>& symbol,
                         const DescribeOptions& options, std::ostream& out) {
  std::vector<std::string> names;
  if (symbol.has_value()) {
    names.push_back(PoolName(*symbol));
  } else {
    absl::StatusOr<std::vector<std::string>> services = source.ListServices();
    if (!services.ok()) return services.status();
    names = *std::move(services);
  }
  // Everything is resolved before anything is written, so that a failure
  // leaves no partial output.
  std::string text;
  for (const std::string& name : names) {
    absl::StatusOr<std::string> description = LoadAndDescribe(source, name);
    if (!description.ok()) return description.status();
    if (!text.empty()) text += '\n';
    text += *description;
    const Descriptor* message = source.pool().FindMessageTypeByName(name);
    if (!options.msg_template || message == nullptr) continue;
    DynamicMessageFactory factory(&source.pool());
    absl::StatusOr<std::string> json =
        FormatMessage(*MessageTemplate(*message, factory),
                      {MessageFormat::kJson, /*emit_defaults=*/true});
    if (!json.ok()) return json.status();
    absl::StrAppend(&text, "\nMessage template:\n", *json);
  }
  out << text;
  return absl::OkStatus();
}

absl::Status RunCall(rpc::Channel& channel, DescriptorSource& source,
                     absl::string_view method_name,
                     const std::string& request_json,
                     const CallCommandOptions& options, std::ostream& out) {
  std::istringstream requests(request_json);
  return RunCall(channel, source, method_name, requests, options, out);
}

absl::Status RunCall(rpc::Channel& channel, DescriptorSource& source,
                     absl::string_view method_name, std::istream& requests,
                     const CallCommandOptions& options, std::ostream& out) {
  absl::StatusOr<const MethodDescriptor*> method =
      ResolveMethod(source, method_name);
  if (!method.ok()) return method.status();
  if ((*method)->client_streaming() || (*method)->server_streaming()) {
    DynamicMessageFactory factory(&source.pool());
    return CallStreaming(channel, **method, factory, requests, options, out);
  }
  const std::string request_json(std::istreambuf_iterator<char>(requests),
                                 std::istreambuf_iterator<char>{});
  if (requests.bad()) return absl::UnknownError("cannot read the request");

  // Declared first: messages must be destroyed before their factory.
  DynamicMessageFactory factory(&source.pool());
  std::unique_ptr<Message> request(
      factory.GetPrototype((*method)->input_type())->New());
  std::unique_ptr<Message> response(
      factory.GetPrototype((*method)->output_type())->New());

  if (absl::Status parsed = ParseRequest(**method, request_json, request.get());
      !parsed.ok()) {
    return parsed;
  }
  rpc::Metadata response_headers;
  rpc::Metadata response_trailers;
  absl::Status called =
      CallAndWait(channel, **method, *request, response.get(), options.timeout,
                  options.verbose ? &response_headers : nullptr,
                  options.verbose ? &response_trailers : nullptr);
  absl::StatusOr<std::string> contents =
      called.ok() ? FormatMessage(*response, options.print)
                  : absl::StatusOr<std::string>(called);
  if (!options.verbose) {
    if (!contents.ok()) return contents.status();
    out << *contents;
    return JudgeHealthAnswer(**method, *request, *response);
  }
  // grpcurl -v's blocks, in its order.
  out << "\nResolved method descriptor:\n" << (*method)->DebugString();
  out << "\nResponse headers received:\n" << FormatMetadata(response_headers);
  if (contents.ok()) out << "\nResponse contents:\n" << *contents;
  out << "\nResponse trailers received:\n" << FormatMetadata(response_trailers);
  out << "Sent 1 request and received "
      << (contents.ok() ? "1 response\n" : "0 responses\n");
  if (!contents.ok()) return contents.status();
  return JudgeHealthAnswer(**method, *request, *response);
}

absl::Status ServingStatusResult(int serving_status,
                                 absl::string_view service) {
  if (serving_status == ::grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::OkStatus();
  }
  const std::string name = ServingStatusName(serving_status);
  return AsNotServing(absl::UnavailableError(
      service.empty()
          ? absl::StrCat("health: the server is ", name)
          : absl::StrCat("health: service \"", service, "\" is ", name)));
}

absl::Status RunHealth(rpc::Channel& channel, const HealthOptions& options,
                       std::ostream& out) {
  using ::grpc::health::v1::HealthCheckResponse;
  ::grpc::health::v1::HealthCheckRequest request;
  request.set_service(options.service);
  rpc::CallOptions call;
  call.timeout = options.timeout;
  absl::StatusOr<HealthCheckResponse> response =
      rpc::CallUnaryAndWait<HealthCheckResponse>(
          channel, "/grpc.health.v1.Health/Check", request, call);
  if (!response.ok()) return response.status();
  out << ServingStatusName(response->status()) << '\n';
  return ServingStatusResult(response->status(), options.service);
}

absl::StatusOr<std::string> ReadRequestJson(const std::string& data_flag,
                                            std::istream& in) {
  if (data_flag.empty()) return std::string("{}");
  if (!absl::StartsWith(data_flag, "@")) return data_flag;
  if (data_flag == "@" || data_flag == "@-") {
    std::string json(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>{});
    if (in.bad()) return absl::UnknownError("cannot read standard input");
    return json;
  }
  const std::string path = data_flag.substr(1);
  std::ifstream file(path, std::ios::binary);
  std::ostringstream json;
  json << file.rdbuf();
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the request from ", path));
  }
  return json.str();
}

}  // namespace dualrpc::cli
