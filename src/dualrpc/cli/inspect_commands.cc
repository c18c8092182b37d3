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
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/client_call.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

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
                         absl::Duration timeout) {
  rpc::CallOptions options;
  options.timeout = timeout;
  absl::Status status;
  absl::Notification finished;
  channel.StartUnaryCall(
      absl::StrCat("/", method.service()->full_name(), "/", method.name()),
      request, response, options, rpc::WaitingDone(&status, &finished));
  finished.WaitForNotification();
  return status;
}

}  // namespace

absl::Status RunList(DescriptorSource& source, std::ostream& out) {
  absl::StatusOr<std::vector<std::string>> services = source.ListServices();
  if (!services.ok()) return services.status();
  for (const std::string& service : *services) out << service << '\n';
  return absl::OkStatus();
}

absl::Status RunDescribe(DescriptorSource& source,
                         const std::optional<std::string>& symbol,
                         std::ostream& out) {
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
  }
  out << text;
  return absl::OkStatus();
}

absl::Status RunCall(rpc::Channel& channel, DescriptorSource& source,
                     absl::string_view method_name,
                     const std::string& request_json, absl::Duration timeout,
                     std::ostream& out) {
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
  absl::Status called =
      CallAndWait(channel, **method, *request, response.get(), timeout);
  if (!called.ok()) return called;

  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(*response, &json, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat("cannot render response as JSON: ",
                                            printed.message().ToString()));
  }
  out << json;
  if (!absl::EndsWith(json, "\n")) out << '\n';
  return absl::OkStatus();
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
