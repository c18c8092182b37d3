#include "dualrpc/cli/inspect_commands.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <istream>
#include <iterator>
#include <memory>
#include <ostream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/cli/request_headers.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/client_call.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::Descriptor;
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
  absl::StatusOr<const MethodDescriptor*> method =
      ResolveMethod(source, method_name);
  if (!method.ok()) return method.status();
  if ((*method)->client_streaming() || (*method)->server_streaming()) {
    return absl::UnimplementedError(
        absl::StrCat((*method)->full_name(),
                     " is a streaming method; call makes unary calls only"));
  }

  // Declared first: messages must be destroyed before their factory.
  DynamicMessageFactory factory(&source.pool());
  std::unique_ptr<Message> request(
      factory.GetPrototype((*method)->input_type())->New());
  std::unique_ptr<Message> response(
      factory.GetPrototype((*method)->output_type())->New());

  const auto parsed =
      google::protobuf::util::JsonStringToMessage(request_json, request.get());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request is not a ", (*method)->input_type()->full_name(),
                     " in JSON: ", parsed.message().ToString()));
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
    return absl::OkStatus();
  }
  // grpcurl -v's blocks, in its order.
  out << "\nResolved method descriptor:\n" << (*method)->DebugString();
  out << "\nResponse headers received:\n" << FormatMetadata(response_headers);
  if (contents.ok()) out << "\nResponse contents:\n" << *contents;
  out << "\nResponse trailers received:\n" << FormatMetadata(response_trailers);
  out << "Sent 1 request and received "
      << (contents.ok() ? "1 response\n" : "0 responses\n");
  return contents.status();
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
