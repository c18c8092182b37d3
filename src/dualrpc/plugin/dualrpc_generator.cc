#include "dualrpc/plugin/dualrpc_generator.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/compiler/cpp/names.h"
#include "google/protobuf/io/printer.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace dualrpc::plugin {
namespace {

namespace pb = ::google::protobuf;
using Vars = std::map<std::string, std::string>;

constexpr char kHeaderExtension[] = ".dualrpc.h";
constexpr char kSourceExtension[] = ".dualrpc.cc";

bool IsUnary(const pb::MethodDescriptor* method) {
  return !method->client_streaming() && !method->server_streaming();
}

const char* StreamingKind(const pb::MethodDescriptor* method) {
  if (method->client_streaming() && method->server_streaming()) {
    return "bidirectional streaming";
  }
  return method->client_streaming() ? "client streaming" : "server streaming";
}

bool HasUnaryMethod(const pb::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    if (IsUnary(service->method(i))) return true;
  }
  return false;
}

// "foo/bar.dualrpc.h" -> "FOO_BAR_DUALRPC_H_".
std::string HeaderGuard(absl::string_view header_name) {
  std::string guard;
  for (char c : header_name) {
    guard += absl::ascii_isalnum(c) ? absl::ascii_toupper(c) : '_';
  }
  return guard + "_";
}

// Prints the descriptor's leading comments from the .proto as "//" lines.
// Each line is a substituted value, so a '$' in it is not a variable.
template <typename Descriptor>
void PrintLeadingComments(pb::io::Printer& printer,
                          const Descriptor* descriptor) {
  pb::SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return;
  absl::string_view text =
      absl::StripTrailingAsciiWhitespace(location.leading_comments);
  if (text.empty()) return;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::string comment =
        absl::StrCat("//", absl::StripTrailingAsciiWhitespace(line));
    // A trailing backslash would splice the next line into the comment.
    if (comment.back() == '\\') comment += '.';
    printer.Print("$comment$\n", "comment", comment);
  }
}

Vars ServiceVars(const pb::ServiceDescriptor* service) {
  return {{"service", service->name()},
          {"service_full_name", service->full_name()}};
}

Vars MethodVars(const pb::MethodDescriptor* method) {
  Vars vars = ServiceVars(method->service());
  vars["method"] = method->name();
  vars["path"] =
      absl::StrCat("/", method->service()->full_name(), "/", method->name());
  vars["request"] = pb::compiler::cpp::QualifiedClassName(method->input_type());
  vars["response"] =
      pb::compiler::cpp::QualifiedClassName(method->output_type());
  vars["kind"] = IsUnary(method) ? "unary" : StreamingKind(method);
  return vars;
}

void PrintSkippedMethod(pb::io::Printer& printer,
                        const pb::MethodDescriptor* method) {
  printer.Print(MethodVars(method),
                "// $method$ ($kind$) is not generated: dualrpc serves unary "
                "methods only.\n");
}

class NamespaceScope {
 public:
  NamespaceScope(pb::io::Printer& printer, const pb::FileDescriptor* file)
      : printer_(printer),
        parts_(absl::StrSplit(file->package(), '.', absl::SkipEmpty())) {
    for (const std::string& part : parts_) {
      printer_.Print("namespace $part$ {\n", "part", part);
    }
    if (!parts_.empty()) printer_.Print("\n");
  }
  ~NamespaceScope() {
    for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
      printer_.Print("}  // namespace $part$\n", "part", *it);
    }
  }

 private:
  pb::io::Printer& printer_;
  std::vector<std::string> parts_;
};

void PrintClientDeclaration(pb::io::Printer& printer,
                            const pb::ServiceDescriptor* service) {
  PrintLeadingComments(printer, service);
  printer.Print(
      ServiceVars(service),
      "// Calls $service_full_name$ through any ::dualrpc::rpc::Channel. "
      "Thread-safe.\n"
      "// Each method Foo comes in three forms:\n"
      "//   Foo()      blocks until the call completes; do not call it where\n"
      "//              blocking stops the channel from completing calls\n"
      "//              (inside another call's done on a transport thread);\n"
      "//   FooAsync(request, options, done) returns at once; `done` runs\n"
      "//              exactly once, on any thread, possibly before "
      "FooAsync()\n"
      "//              returns, with the response or the failure;\n"
      "//   FooAsync(request, response, options, done) the same, filling in\n"
      "//              the caller's `response` (valid until `done` runs;\n"
      "//              unspecified after a failure): the client allocates\n"
      "//              nothing, and a caller can reuse one response message\n"
      "//              for call after call, as with grpc++'s callback API.\n"
      "class $service$Client final {\n"
      " public:\n");
  printer.Indent();
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    if (!IsUnary(method)) continue;
    printer.Print(MethodVars(method),
                  "static constexpr char k$method$Method[] = \"$path$\";\n");
  }
  printer.Print(
      ServiceVars(service),
      "\n"
      "// Shares `channel`, which stays alive as long as this client.\n"
      "explicit $service$Client(std::shared_ptr<::dualrpc::rpc::Channel> "
      "channel);\n");
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    printer.Print("\n");
    if (!IsUnary(method)) {
      PrintSkippedMethod(printer, method);
      continue;
    }
    PrintLeadingComments(printer, method);
    printer.Print(
        MethodVars(method),
        "::absl::StatusOr<$response$> $method$(\n"
        "    const $request$& request,\n"
        "    const ::dualrpc::rpc::CallOptions& options = {});\n"
        "void $method$Async(\n"
        "    const $request$& request,\n"
        "    const ::dualrpc::rpc::CallOptions& options,\n"
        "    ::absl::AnyInvocable<void(::absl::StatusOr<$response$>) &&> "
        "done);\n"
        "void $method$Async(\n"
        "    const $request$& request,\n"
        "    $response$* response,\n"
        "    const ::dualrpc::rpc::CallOptions& options,\n"
        "    ::dualrpc::rpc::UnaryDone done);\n");
  }
  printer.Outdent();
  printer.Print(
      "\n"
      " private:\n"
      "  std::shared_ptr<::dualrpc::rpc::Channel> channel_;\n"
      "};\n\n");
}

void PrintBaseDeclaration(pb::io::Printer& printer,
                          const pb::ServiceDescriptor* service) {
  PrintLeadingComments(printer, service);
  printer.Print(
      ServiceVars(service),
      "// The server side of $service_full_name$: override the methods this\n"
      "// server implements (the others complete with UNIMPLEMENTED) and add\n"
      "// them to a registry with Register$service$(). Methods run on\n"
      "// transport threads, several at once. A call's context, request and\n"
      "// response stay valid until its `done` has run; `done` must run\n"
      "// exactly once, on any thread.\n"
      "class $service$Base {\n"
      " public:\n"
      "  static constexpr char kServiceName[] = \"$service_full_name$\";\n"
      "\n"
      "  $service$Base() = default;\n"
      "  $service$Base(const $service$Base&) = delete;\n"
      "  $service$Base& operator=(const $service$Base&) = delete;\n"
      "  virtual ~$service$Base() = default;\n");
  printer.Indent();
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    printer.Print("\n");
    if (!IsUnary(method)) {
      PrintSkippedMethod(printer, method);
      continue;
    }
    PrintLeadingComments(printer, method);
    printer.Print(MethodVars(method),
                  "virtual void $method$(::dualrpc::rpc::ServerCallContext* "
                  "context,\n"
                  "    const $request$* request,\n"
                  "    $response$* response,\n"
                  "    ::dualrpc::rpc::UnaryDone done);\n");
  }
  printer.Outdent();
  printer.Print(
      ServiceVars(service),
      "};\n"
      "\n"
      "// Adds every unary method of `service` to `registry`, or none of\n"
      "// them (ALREADY_EXISTS when a path is taken). `service` is not owned\n"
      "// and must outlive every server that serves `registry`.\n"
      "::absl::Status Register$service$($service$Base* service,\n"
      "    ::dualrpc::rpc::ServiceRegistry* registry);\n\n");
}

void PrintHeader(pb::io::Printer& printer, const pb::FileDescriptor* file,
                 const std::string& header_name) {
  const std::string base = pb::compiler::cpp::StripProto(file->name());
  Vars vars = {{"proto", file->name()},
               {"guard", HeaderGuard(header_name)},
               {"pb_h", base + ".pb.h"}};
  printer.Print(vars,
                "// Generated by protoc-gen-dualrpc from $proto$. DO NOT "
                "EDIT.\n"
                "\n"
                "#ifndef $guard$\n"
                "#define $guard$\n"
                "\n");
  if (file->service_count() == 0) {
    printer.Print(vars,
                  "// $proto$ defines no services.\n"
                  "\n"
                  "#endif  // $guard$\n");
    return;
  }
  printer.Print(vars,
                "#include <memory>\n"
                "\n"
                "#include \"absl/functional/any_invocable.h\"\n"
                "#include \"absl/status/status.h\"\n"
                "#include \"absl/status/statusor.h\"\n"
                "#include \"$pb_h$\"\n"
                "#include \"dualrpc/rpc/call.h\"\n"
                "#include \"dualrpc/rpc/channel.h\"\n"
                "#include \"dualrpc/rpc/service_registry.h\"\n"
                "\n");
  {
    NamespaceScope scope(printer, file);
    for (int i = 0; i < file->service_count(); ++i) {
      PrintClientDeclaration(printer, file->service(i));
      PrintBaseDeclaration(printer, file->service(i));
    }
  }
  printer.Print(vars, "\n#endif  // $guard$\n");
}

void PrintClientDefinitions(pb::io::Printer& printer,
                            const pb::ServiceDescriptor* service) {
  printer.Print(ServiceVars(service),
                "$service$Client::$service$Client(\n"
                "    std::shared_ptr<::dualrpc::rpc::Channel> channel)\n"
                "    : channel_(std::move(channel)) {}\n");
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    if (!IsUnary(method)) continue;
    printer.Print(
        MethodVars(method),
        "\n"
        "::absl::StatusOr<$response$> $service$Client::$method$(\n"
        "    const $request$& request,\n"
        "    const ::dualrpc::rpc::CallOptions& options) {\n"
        "  return ::dualrpc::rpc::CallUnaryAndWait<$response$>(\n"
        "      *channel_, k$method$Method, request, options);\n"
        "}\n"
        "\n"
        "void $service$Client::$method$Async(\n"
        "    const $request$& request,\n"
        "    const ::dualrpc::rpc::CallOptions& options,\n"
        "    ::absl::AnyInvocable<void(::absl::StatusOr<$response$>) &&> "
        "done) {\n"
        "  ::dualrpc::rpc::StartTypedUnaryCall<$response$>(\n"
        "      *channel_, k$method$Method, request, options, "
        "std::move(done));\n"
        "}\n"
        "\n"
        "void $service$Client::$method$Async(\n"
        "    const $request$& request,\n"
        "    $response$* response,\n"
        "    const ::dualrpc::rpc::CallOptions& options,\n"
        "    ::dualrpc::rpc::UnaryDone done) {\n"
        "  channel_->StartUnaryCall(k$method$Method, request, response, "
        "options,\n"
        "                           std::move(done));\n"
        "}\n");
  }
  printer.Print("\n");
}

void PrintBaseDefinitions(pb::io::Printer& printer,
                          const pb::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    if (!IsUnary(method)) continue;
    printer.Print(
        MethodVars(method),
        "void $service$Base::$method$(::dualrpc::rpc::ServerCallContext* "
        "/*context*/,\n"
        "    const $request$* /*request*/,\n"
        "    $response$* /*response*/,\n"
        "    ::dualrpc::rpc::UnaryDone done) {\n"
        "  std::move(done)(::absl::UnimplementedError(\n"
        "      \"$service_full_name$/$method$ is not implemented by this "
        "server\"));\n"
        "}\n"
        "\n");
  }
  // Without unary methods there is nothing to register and `service` would
  // be an unused parameter.
  const bool has_unary = HasUnaryMethod(service);
  Vars vars = ServiceVars(service);
  vars["service_param"] = has_unary ? "service" : "/*service*/";
  printer.Print(vars,
                "::absl::Status Register$service$($service$Base* "
                "$service_param$,\n"
                "    ::dualrpc::rpc::ServiceRegistry* registry) {\n"
                "  std::vector<::dualrpc::rpc::Method> methods;\n");
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    if (!IsUnary(method)) continue;
    printer.Print(MethodVars(method),
                  "  methods.push_back(::dualrpc::rpc::MakeUnaryMethod(\n"
                  "      $service$Client::k$method$Method, service, "
                  "&$service$Base::$method$));\n");
  }
  printer.Print(
      "  return registry->AddMethods(std::move(methods));\n"
      "}\n\n");
}

void PrintSource(pb::io::Printer& printer, const pb::FileDescriptor* file,
                 const std::string& header_name) {
  Vars vars = {{"proto", file->name()}, {"header", header_name}};
  printer.Print(vars,
                "// Generated by protoc-gen-dualrpc from $proto$. DO NOT "
                "EDIT.\n"
                "\n"
                "#include \"$header$\"\n");
  if (file->service_count() == 0) return;
  printer.Print(
      "\n"
      "#include <memory>\n"
      "#include <utility>\n"
      "#include <vector>\n"
      "\n"
      "#include \"dualrpc/rpc/client_call.h\"\n"
      "\n");
  NamespaceScope scope(printer, file);
  for (int i = 0; i < file->service_count(); ++i) {
    PrintClientDefinitions(printer, file->service(i));
    PrintBaseDefinitions(printer, file->service(i));
  }
}

}  // namespace

bool DualrpcGenerator::Generate(const pb::FileDescriptor* file,
                                const std::string& parameter,
                                pb::compiler::GeneratorContext* context,
                                std::string* error) const {
  if (!parameter.empty()) {
    *error = absl::StrCat("protoc-gen-dualrpc takes no options, got \"",
                          parameter, "\"");
    return false;
  }
  const std::string base = pb::compiler::cpp::StripProto(file->name());
  const std::string header_name = base + kHeaderExtension;
  {
    std::unique_ptr<pb::io::ZeroCopyOutputStream> output(
        context->Open(header_name));
    pb::io::Printer printer(output.get(), '$');
    PrintHeader(printer, file, header_name);
  }
  {
    std::unique_ptr<pb::io::ZeroCopyOutputStream> output(
        context->Open(base + kSourceExtension));
    pb::io::Printer printer(output.get(), '$');
    PrintSource(printer, file, header_name);
  }
  return true;
}

}  // namespace dualrpc::plugin
