#include "dualrpc/cli/inspect_commands.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
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
#include "absl/strings/str_split.h"
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
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::MessageFactory;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::Reflection;
using ::google::protobuf::ServiceDescriptor;

// How far down MessageTemplate fills nested messages: the message's own
// message fields are filled (level 1); theirs are present but empty.
constexpr int kTemplateDepth = 1;

// `json` as protobuf's printer indents it (one space per level in 3.21),
// re-indented to two spaces per level. JSON strings cannot hold a raw
// newline, so the spaces that start a line are all indentation.
std::string IndentJsonByTwo(const std::string& json) {
  std::vector<absl::string_view> lines = absl::StrSplit(json, '\n');
  size_t unit = 0;  // the printer's indent step: the smallest indent seen
  for (absl::string_view line : lines) {
    const size_t indent = line.find_first_not_of(' ');
    if (indent != 0 && indent != absl::string_view::npos) {
      unit = unit == 0 ? indent : std::min(unit, indent);
    }
  }
  if (unit == 0 || unit == 2) return json;
  std::string out;
  out.reserve(json.size() * 2);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const size_t indent =
        std::min(lines[i].find_first_not_of(' '), lines[i].size());
    out.append(indent / unit * 2, ' ');
    absl::StrAppend(&out, lines[i].substr(indent));
  }
  return out;
}

// Types whose JSON is not a plain object; MessageTemplate leaves them be.
bool IsWellKnownType(const Descriptor& type) {
  return absl::StartsWith(type.full_name(), "google.protobuf.");
}

// Value and Any print as JSON only once they hold something: a template
// does not include them.
bool HasNoEmptyJsonForm(const Descriptor& type) {
  return type.full_name() == "google.protobuf.Value" ||
         type.full_name() == "google.protobuf.Any";
}

void FillTemplate(Message* message, int depth);

// Sets (singular) or adds (repeated) `field`'s default value in `message`;
// a message value is filled one level further down, up to kTemplateDepth.
void SetTemplateValue(Message* message, const FieldDescriptor& field,
                      int depth) {
  const Reflection& reflection = *message->GetReflection();
  const bool repeated = field.is_repeated();
  switch (field.cpp_type()) {
#define DUALRPC_TEMPLATE_CASE(CPPTYPE, Name, value) \
  case FieldDescriptor::CPPTYPE:                    \
    if (repeated) {                                 \
      reflection.Add##Name(message, &field, value); \
    } else {                                        \
      reflection.Set##Name(message, &field, value); \
    }                                               \
    return;
    DUALRPC_TEMPLATE_CASE(CPPTYPE_INT32, Int32, field.default_value_int32())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_INT64, Int64, field.default_value_int64())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_UINT32, UInt32, field.default_value_uint32())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_UINT64, UInt64, field.default_value_uint64())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_DOUBLE, Double, field.default_value_double())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_FLOAT, Float, field.default_value_float())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_BOOL, Bool, field.default_value_bool())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_ENUM, Enum, field.default_value_enum())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_STRING, String, field.default_value_string())
#undef DUALRPC_TEMPLATE_CASE
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Descriptor& type = *field.message_type();
      if (HasNoEmptyJsonForm(type)) return;
      Message* value = repeated ? reflection.AddMessage(message, &field)
                                : reflection.MutableMessage(message, &field);
      // A map entry is not a level of its own: its value is the field's.
      const int value_depth = field.is_map() ? depth : depth + 1;
      if (value_depth <= kTemplateDepth && !IsWellKnownType(type)) {
        FillTemplate(value, value_depth);
      }
      return;
    }
  }
}

// Every field of `message` (one member of each oneof: the first) set to its
// default, `depth` levels below the template's top.
void FillTemplate(Message* message, int depth) {
  const Descriptor& type = *message->GetDescriptor();
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& field = *type.field(i);
    const auto* oneof = field.real_containing_oneof();
    if (oneof != nullptr && oneof->field(0) != &field) continue;
    SetTemplateValue(message, field, depth);
  }
}

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

absl::StatusOr<std::string> LoadAndDescribe(ReflectionClient& reflection,
                                            const std::string& name) {
  if (absl::Status loaded = reflection.LoadSymbol(name); !loaded.ok()) {
    return loaded;
  }
  return Describe(reflection.pool(), name);
}

// The method `text` names ("pkg.Svc/Method", "/pkg.Svc/Method",
// "pkg.Svc.Method"), loaded through `reflection`.
absl::StatusOr<const MethodDescriptor*> ResolveMethod(
    ReflectionClient& reflection, absl::string_view text) {
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
  if (absl::Status loaded = reflection.LoadSymbol(service_name); !loaded.ok()) {
    return loaded;
  }
  const ServiceDescriptor* service =
      reflection.pool().FindServiceByName(service_name);
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
                         rpc::Metadata* response_metadata) {
  rpc::CallOptions options;
  options.timeout = timeout;
  options.response_metadata = response_metadata;
  absl::Status status;
  absl::Notification finished;
  channel.StartUnaryCall(
      absl::StrCat("/", method.service()->full_name(), "/", method.name()),
      request, response, options, rpc::WaitingDone(&status, &finished));
  finished.WaitForNotification();
  return status;
}

}  // namespace

absl::StatusOr<MessageFormat> ParseMessageFormat(absl::string_view text) {
  if (text == "json") return MessageFormat::kJson;
  if (text == "text") return MessageFormat::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("-format is json or text, not \"", text, "\""));
}

absl::StatusOr<std::string> FormatMessage(const Message& message,
                                          const PrintOptions& options) {
  if (options.format == MessageFormat::kText) {
    std::string text;
    if (!google::protobuf::TextFormat::PrintToString(message, &text)) {
      return absl::InternalError("cannot render the message as text format");
    }
    return text;
  }
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = options.emit_defaults;
  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(message, &json, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot render the message as JSON: ", printed.message().ToString()));
  }
  json = IndentJsonByTwo(json);
  if (!absl::EndsWith(json, "\n")) json += '\n';
  return json;
}

std::unique_ptr<Message> MessageTemplate(const Descriptor& descriptor,
                                         MessageFactory& factory) {
  std::unique_ptr<Message> message(factory.GetPrototype(&descriptor)->New());
  FillTemplate(message.get(), 0);
  return message;
}

absl::Status RunList(ReflectionClient& reflection,
                     const std::optional<std::string>& service,
                     std::ostream& out) {
  if (!service.has_value()) {
    absl::StatusOr<std::vector<std::string>> services =
        reflection.ListServices();
    if (!services.ok()) return services.status();
    for (const std::string& name : *services) out << name << '\n';
    return absl::OkStatus();
  }
  const std::string name = PoolName(*service);
  if (absl::Status loaded = reflection.LoadSymbol(name); !loaded.ok()) {
    return loaded;
  }
  const ServiceDescriptor* descriptor =
      reflection.pool().FindServiceByName(name);
  if (descriptor == nullptr) {
    return absl::NotFoundError(absl::StrCat("\"", name, "\" is not a service"));
  }
  for (int i = 0; i < descriptor->method_count(); ++i) {
    out << descriptor->method(i)->full_name() << '\n';
  }
  return absl::OkStatus();
}

absl::Status RunDescribe(ReflectionClient& reflection,
                         const std::optional<std::string>& symbol,
                         const DescribeOptions& options, std::ostream& out) {
  std::vector<std::string> names;
  if (symbol.has_value()) {
    names.push_back(PoolName(*symbol));
  } else {
    absl::StatusOr<std::vector<std::string>> services =
        reflection.ListServices();
    if (!services.ok()) return services.status();
    names = *std::move(services);
  }
  // Everything is resolved before anything is written, so that a failure
  // leaves no partial output.
  std::string text;
  for (const std::string& name : names) {
    absl::StatusOr<std::string> description = LoadAndDescribe(reflection, name);
    if (!description.ok()) return description.status();
    if (!text.empty()) text += '\n';
    text += *description;
    const Descriptor* message = reflection.pool().FindMessageTypeByName(name);
    if (!options.msg_template || message == nullptr) continue;
    DynamicMessageFactory factory(&reflection.pool());
    absl::StatusOr<std::string> json =
        FormatMessage(*MessageTemplate(*message, factory),
                      {MessageFormat::kJson, /*emit_defaults=*/true});
    if (!json.ok()) return json.status();
    absl::StrAppend(&text, "\nMessage template:\n", *json);
  }
  out << text;
  return absl::OkStatus();
}

absl::Status RunCall(rpc::Channel& channel, ReflectionClient& reflection,
                     absl::string_view method_name,
                     const std::string& request_json,
                     const CallCommandOptions& options, std::ostream& out) {
  absl::StatusOr<const MethodDescriptor*> method =
      ResolveMethod(reflection, method_name);
  if (!method.ok()) return method.status();
  if ((*method)->client_streaming() || (*method)->server_streaming()) {
    return absl::UnimplementedError(
        absl::StrCat((*method)->full_name(),
                     " is a streaming method; call makes unary calls only"));
  }

  // Declared first: messages must be destroyed before their factory.
  DynamicMessageFactory factory(&reflection.pool());
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
  rpc::Metadata response_metadata;
  absl::Status called =
      CallAndWait(channel, **method, *request, response.get(), options.timeout,
                  options.verbose ? &response_metadata : nullptr);
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
  out << "\nResponse headers received:\n"
      << "(not told apart from trailers on this channel: see trailers)\n";
  if (contents.ok()) out << "\nResponse contents:\n" << *contents;
  out << "\nResponse trailers received:\n" << FormatMetadata(response_metadata);
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
