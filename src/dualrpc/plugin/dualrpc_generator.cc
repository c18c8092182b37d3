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

// The four call kinds, as the generator names them.
enum class Kind { kUnary, kClientStreaming, kServerStreaming, kBidi };

Kind KindOf(const pb::MethodDescriptor* method) {
  if (method->client_streaming()) {
    return method->server_streaming() ? Kind::kBidi : Kind::kClientStreaming;
  }
  return method->server_streaming() ? Kind::kServerStreaming : Kind::kUnary;
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
  return vars;
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

// The client's declarations of one method, by kind.
void PrintClientMethodDeclaration(pb::io::Printer& printer,
                                  const pb::MethodDescriptor* method) {
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case Kind::kUnary:
      printer.Print(
          vars,
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
      return;
    case Kind::kServerStreaming:
      printer.Print(
          vars,
          "// Server streaming.\n"
          "std::unique_ptr<::dualrpc::rpc::ClientReader<$response$>> "
          "$method$(\n"
          "    const $request$& request,\n"
          "    const ::dualrpc::rpc::CallOptions& options = {});\n"
          "void $method$Async(\n"
          "    const $request$& request,\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    ::dualrpc::rpc::ClientReadReactor<$response$>* reactor);\n");
      return;
    case Kind::kClientStreaming:
      printer.Print(
          vars,
          "// Client streaming.\n"
          "std::unique_ptr<::dualrpc::rpc::ClientWriter<$request$>> "
          "$method$(\n"
          "    $response$* response,\n"
          "    const ::dualrpc::rpc::CallOptions& options = {});\n"
          "void $method$Async(\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    $response$* response,\n"
          "    ::dualrpc::rpc::ClientWriteReactor<$request$>* reactor);\n");
      return;
    case Kind::kBidi:
      printer.Print(
          vars,
          "// Bidirectional streaming.\n"
          "std::unique_ptr<::dualrpc::rpc::ClientReaderWriter<\n"
          "    $request$, $response$>>\n"
          "$method$(const ::dualrpc::rpc::CallOptions& options = {});\n"
          "void $method$Async(\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    ::dualrpc::rpc::ClientBidiReactor<$request$, $response$>* "
          "reactor);\n");
      return;
  }
}

void PrintClientDeclaration(pb::io::Printer& printer,
                            const pb::ServiceDescriptor* service) {
  PrintLeadingComments(printer, service);
  printer.Print(
      ServiceVars(service),
      "// Calls $service_full_name$ through any ::dualrpc::rpc::Channel. "
      "Thread-safe.\n"
      "// Each unary method Foo comes in three forms:\n"
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
      "// Each streaming method Foo comes in two forms:\n"
      "//   Foo(...)   begins the call and returns a blocking helper\n"
      "//              (dualrpc/rpc/blocking_stream.h): ClientReader for\n"
      "//              server streaming (Foo(request)), ClientWriter for\n"
      "//              client streaming (Foo(&response): filled in when its\n"
      "//              Finish returns OK), ClientReaderWriter for bidi; the\n"
      "//              same rule as blocking unary calls: not on a transport\n"
      "//              thread;\n"
      "//   FooAsync(..., reactor) binds a new call to `reactor`\n"
      "//              (dualrpc/rpc/reactor.h: ClientReadReactor,\n"
      "//              ClientWriteReactor, ClientBidiReactor; not owned,\n"
      "//              valid until its OnDone returns) and returns at once;\n"
      "//              server streaming also queues the one request, client\n"
      "//              streaming the read of the one `response` (valid until\n"
      "//              OnDone; filled in before OnDone(OK)). The caller then\n"
      "//              starts its operations and reactor->StartCall(), as\n"
      "//              with grpc++'s callback API.\n"
      "class $service$Client final {\n"
      " public:\n");
  printer.Indent();
  for (int i = 0; i < service->method_count(); ++i) {
    printer.Print(MethodVars(service->method(i)),
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
    PrintLeadingComments(printer, method);
    PrintClientMethodDeclaration(printer, method);
  }
  printer.Outdent();
  printer.Print(
      "\n"
      " private:\n"
      "  std::shared_ptr<::dualrpc::rpc::Channel> channel_;\n"
      "};\n\n");
}

// The signature of the base class's method for `method`: as declared in
// the class (virtual) or, for the default definition, qualified with the
// class and with the parameters it does not use commented out.
void PrintBaseMethodSignature(pb::io::Printer& printer,
                              const pb::MethodDescriptor* method,
                              bool definition) {
  Vars vars = MethodVars(method);
  vars["qualifier"] = definition ? "" : "virtual ";
  vars["scope"] = definition ? absl::StrCat(method->service()->name(), "Base::")
                             : "";
  auto name = [definition](const char* param) {
    return definition ? absl::StrCat("/*", param, "*/") : std::string(param);
  };
  vars["context"] = name("context");
  vars["request_name"] = name("request");
  vars["response_name"] = name("response");
  switch (KindOf(method)) {
    case Kind::kUnary:
      printer.Print(vars,
                    "$qualifier$void $scope$$method$("
                    "::dualrpc::rpc::ServerCallContext* $context$,\n"
                    "    const $request$* $request_name$,\n"
                    "    $response$* $response_name$,\n"
                    "    ::dualrpc::rpc::UnaryDone done)");
      return;
    case Kind::kServerStreaming:
      printer.Print(vars,
                    "$qualifier$::dualrpc::rpc::ServerWriteReactor<$response$>"
                    "*\n"
                    "$scope$$method$(::dualrpc::rpc::ServerStream* stream,\n"
                    "    const $request$* $request_name$)");
      return;
    case Kind::kClientStreaming:
      printer.Print(vars,
                    "$qualifier$::dualrpc::rpc::ServerReadReactor<$request$>*"
                    "\n"
                    "$scope$$method$(::dualrpc::rpc::ServerStream* stream,\n"
                    "    $response$* $response_name$)");
      return;
    case Kind::kBidi:
      printer.Print(vars,
                    "$qualifier$::dualrpc::rpc::ServerBidiReactor<\n"
                    "    $request$, $response$>*\n"
                    "$scope$$method$(::dualrpc::rpc::ServerStream* stream)");
      return;
  }
}

void PrintBaseDeclaration(pb::io::Printer& printer,
                          const pb::ServiceDescriptor* service) {
  PrintLeadingComments(printer, service);
  printer.Print(
      ServiceVars(service),
      "// The server side of $service_full_name$: override the methods this\n"
      "// server implements (the others complete with UNIMPLEMENTED) and add\n"
      "// them to a registry with Register$service$(). Methods run on\n"
      "// transport threads, several at once, and must not block.\n"
      "// Unary: a call's context, request and response stay valid until its\n"
      "// `done` has run; `done` must run exactly once, on any thread.\n"
      "// Streaming (dualrpc/rpc/reactor.h, dualrpc/rpc/stream.h): return a\n"
      "// new reactor for the call, bound to `stream` (ServerWriteReactor for\n"
      "// server streaming, given the one request; ServerReadReactor for\n"
      "// client streaming, given the one response that Finish(OK) sends;\n"
      "// ServerBidiReactor for bidi); it owns itself and usually deletes\n"
      "// itself in OnDone. `stream`, `request` and `response` stay valid\n"
      "// until OnDone.\n"
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
    PrintLeadingComments(printer, method);
    PrintBaseMethodSignature(printer, method, /*definition=*/false);
    printer.Print(";\n");
  }
  printer.Outdent();
  printer.Print(
      ServiceVars(service),
      "};\n"
      "\n"
      "// Adds every method of `service` to `registry`, or none of them\n"
      "// (ALREADY_EXISTS when a path is taken). `service` is not owned and\n"
      "// must outlive every server that serves `registry`.\n"
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
                "#include \"dualrpc/rpc/blocking_stream.h\"\n"
                "#include \"dualrpc/rpc/call.h\"\n"
                "#include \"dualrpc/rpc/channel.h\"\n"
                "#include \"dualrpc/rpc/reactor.h\"\n"
                "#include \"dualrpc/rpc/service_registry.h\"\n"
                "#include \"dualrpc/rpc/stream.h\"\n"
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

void PrintClientMethodDefinition(pb::io::Printer& printer,
                                 const pb::MethodDescriptor* method) {
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case Kind::kUnary:
      printer.Print(
          vars,
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
      return;
    case Kind::kServerStreaming:
      printer.Print(
          vars,
          "\n"
          "std::unique_ptr<::dualrpc::rpc::ClientReader<$response$>>\n"
          "$service$Client::$method$(\n"
          "    const $request$& request,\n"
          "    const ::dualrpc::rpc::CallOptions& options) {\n"
          "  return std::make_unique<::dualrpc::rpc::ClientReader<$response$>>"
          "(\n"
          "      *channel_, k$method$Method, request, options);\n"
          "}\n"
          "\n"
          "void $service$Client::$method$Async(\n"
          "    const $request$& request,\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    ::dualrpc::rpc::ClientReadReactor<$response$>* reactor) {\n"
          "  ::dualrpc::rpc::ClientStream* stream = channel_->NewStream(\n"
          "      k$method$Method, "
          "::dualrpc::rpc::MethodKind::kServerStreaming,\n"
          "      options, reactor);\n"
          "  reactor->BindStream(stream);\n"
          "  stream->StartWrite(request);\n"
          "}\n");
      return;
    case Kind::kClientStreaming:
      printer.Print(
          vars,
          "\n"
          "std::unique_ptr<::dualrpc::rpc::ClientWriter<$request$>>\n"
          "$service$Client::$method$(\n"
          "    $response$* response,\n"
          "    const ::dualrpc::rpc::CallOptions& options) {\n"
          "  return std::make_unique<::dualrpc::rpc::ClientWriter<$request$>>"
          "(\n"
          "      *channel_, k$method$Method, response, options);\n"
          "}\n"
          "\n"
          "void $service$Client::$method$Async(\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    $response$* response,\n"
          "    ::dualrpc::rpc::ClientWriteReactor<$request$>* reactor) {\n"
          "  ::dualrpc::rpc::ClientStream* stream = channel_->NewStream(\n"
          "      k$method$Method, "
          "::dualrpc::rpc::MethodKind::kClientStreaming,\n"
          "      options, reactor);\n"
          "  reactor->BindStream(stream);\n"
          "  stream->StartRead(response);\n"
          "}\n");
      return;
    case Kind::kBidi:
      printer.Print(
          vars,
          "\n"
          "std::unique_ptr<::dualrpc::rpc::ClientReaderWriter<\n"
          "    $request$, $response$>>\n"
          "$service$Client::$method$(\n"
          "    const ::dualrpc::rpc::CallOptions& options) {\n"
          "  return std::make_unique<::dualrpc::rpc::ClientReaderWriter<\n"
          "      $request$, $response$>>(*channel_, k$method$Method, "
          "options);\n"
          "}\n"
          "\n"
          "void $service$Client::$method$Async(\n"
          "    const ::dualrpc::rpc::CallOptions& options,\n"
          "    ::dualrpc::rpc::ClientBidiReactor<$request$, $response$>* "
          "reactor) {\n"
          "  reactor->BindStream(channel_->NewStream(\n"
          "      k$method$Method, ::dualrpc::rpc::MethodKind::kBidiStreaming,\n"
          "      options, reactor));\n"
          "}\n");
      return;
  }
}

void PrintClientDefinitions(pb::io::Printer& printer,
                            const pb::ServiceDescriptor* service) {
  printer.Print(ServiceVars(service),
                "$service$Client::$service$Client(\n"
                "    std::shared_ptr<::dualrpc::rpc::Channel> channel)\n"
                "    : channel_(std::move(channel)) {}\n");
  for (int i = 0; i < service->method_count(); ++i) {
    PrintClientMethodDefinition(printer, service->method(i));
  }
  printer.Print("\n");
}

// The reactor type a streaming default returns, and the Make*Method that
// registers `method`.
struct KindNames {
  const char* reactor;
  const char* make;
};

KindNames NamesOf(Kind kind) {
  switch (kind) {
    case Kind::kUnary:
      return {"", "MakeUnaryMethod"};
    case Kind::kServerStreaming:
      return {"ServerWriteReactor<$response$>", "MakeServerStreamingMethod"};
    case Kind::kClientStreaming:
      return {"ServerReadReactor<$request$>", "MakeClientStreamingMethod"};
    case Kind::kBidi:
      return {"ServerBidiReactor<$request$, $response$>",
              "MakeBidiStreamingMethod"};
  }
  return {"", ""};
}

void PrintBaseDefinitions(pb::io::Printer& printer,
                          const pb::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    const Kind kind = KindOf(method);
    Vars vars = MethodVars(method);
    PrintBaseMethodSignature(printer, method, /*definition=*/true);
    if (kind == Kind::kUnary) {
      printer.Print(vars,
                    " {\n"
                    "  std::move(done)(::absl::UnimplementedError(\n"
                    "      \"$service_full_name$/$method$ is not implemented "
                    "by this server\"));\n"
                    "}\n"
                    "\n");
      continue;
    }
    printer.Print(" {\n  return new ::dualrpc::rpc::FinishedReactor<\n");
    printer.Print(vars, absl::StrCat("      ::dualrpc::rpc::",
                                     NamesOf(kind).reactor, ">(\n")
                            .c_str());
    printer.Print(vars,
                  "      stream, ::absl::UnimplementedError(\n"
                  "          \"$service_full_name$/$method$ is not "
                  "implemented by this server\"));\n"
                  "}\n"
                  "\n");
  }
  // Without methods there is nothing to register and `service` would be an
  // unused parameter.
  Vars vars = ServiceVars(service);
  vars["service_param"] =
      service->method_count() > 0 ? "service" : "/*service*/";
  printer.Print(vars,
                "::absl::Status Register$service$($service$Base* "
                "$service_param$,\n"
                "    ::dualrpc::rpc::ServiceRegistry* registry) {\n"
                "  std::vector<::dualrpc::rpc::Method> methods;\n");
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    Vars method_vars = MethodVars(method);
    method_vars["make"] = NamesOf(KindOf(method)).make;
    printer.Print(method_vars,
                  "  methods.push_back(::dualrpc::rpc::$make$(\n"
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
