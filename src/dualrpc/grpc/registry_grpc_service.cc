#include "dualrpc/grpc/registry_grpc_service.h"

// gRPC INTERNALS, confined to this file: the rest of dualrpc uses the public
// grpc++ API only, and no header of ours includes grpcpp/impl/codegen.
//
// What: ::grpc::internal::RpcServiceMethod (grpcpp/impl/rpc_service_method.h)
// and the callback handlers over <ByteBuffer, ByteBuffer> of
// grpcpp/impl/codegen/server_callback_handlers.h (CallbackUnaryHandler,
// CallbackClientStreamingHandler, CallbackServerStreamingHandler,
// CallbackBidiHandler: one per call kind), registered through the
// protected grpc::Service::AddMethod / MarkMethodRawCallback — the same calls
// protoc's generated *_grpc.pb.h code makes.
// Why: a registry's methods must be served as one named grpc::Service per
// protobuf service, so that the server reflection and health services (and
// grpc::Server's per-service bookkeeping) see "dualrpc.v1.FileService" like
// any generated service. The public alternative, grpc::CallbackGenericService,
// serves every path through one anonymous handler that reflection cannot
// describe.
// Known to work with: gRPC 1.51 (Debian bookworm's libgrpc++-dev 1.51.1).
// When it breaks (later releases move the impl/codegen headers to grpcpp/impl/
// and grpcpp/support/, first leaving forwarding headers, then none): include
// the header that then defines the Callback*Handler templates, keep the
// AddMethod/MarkMethodRawCallback calls as generated code of that version
// makes them, and run tests/rpc (grpc_glue_test, plugin_transports_test) and
// tests/inspection, which exercise reflection and health over these services.
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/byte_buffer_codec.h"
#include "dualrpc/grpc/status_conversion.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/metadata.h"

namespace dualrpc::grpc {
namespace {

using ByteBufferHandler =
    ::grpc::internal::CallbackUnaryHandler<::grpc::ByteBuffer,
                                           ::grpc::ByteBuffer>;

absl::Time DeadlineOf(const ::grpc::CallbackServerContext& context) {
  std::chrono::system_clock::time_point deadline = context.deadline();
  // grpc++ reports "no deadline" as the largest time_point.
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// The client's custom metadata, without gRPC's reserved "grpc-" keys.
rpc::Metadata RequestMetadataOf(const ::grpc::CallbackServerContext& context) {
  rpc::Metadata metadata;
  for (const auto& [key, value] : context.client_metadata()) {
    absl::string_view key_view(key.data(), key.size());
    if (absl::StartsWith(key_view, "grpc-")) continue;
    metadata.emplace_back(std::string(key_view),
                          std::string(value.data(), value.size()));
  }
  return metadata;
}

// The ServerCallContext of one gRPC call, unary or streaming (`Base` is
// rpc::ServerCallContext or rpc::ServerStream): what the client sent, and the
// trailers the implementation adds. Valid while `context` is.
template <typename Base>
class GrpcCallContext : public Base {
 public:
  GrpcCallContext(::grpc::CallbackServerContext* context,
                  const AdoptedPeerSubjects* adopted)
      : context_(context),
        adopted_(adopted),
        deadline_(DeadlineOf(*context)),
        request_metadata_(RequestMetadataOf(*context)) {}

  absl::Time deadline() const override { return deadline_; }
  bool IsCancelled() const override { return context_->IsCancelled(); }
  const rpc::Metadata& request_metadata() const override {
    return request_metadata_;
  }
  void AddResponseMetadata(std::string key, std::string value) override {
    absl::MutexLock lock(&metadata_mutex_);
    response_metadata_.emplace_back(std::move(key), std::move(value));
  }
  std::string peer() const override { return context_->peer(); }
  absl::string_view transport() const override { return "grpc"; }
  // gRPC's "x509_subject" auth property: the peer certificate's subject as
  // OpenSSL's X509_NAME_print_ex(XN_FLAG_RFC2253) prints it (grpc-core's
  // tsi/ssl_transport_security.cc), which is what the raw transport's TLS
  // stream gives too ("CN=alice,O=dualrpc"; grpc_tls_test checks it). A
  // client certificate is verified before the call exists when the server
  // requires one (--tls_client_ca).
  // A connection the shared port's relay handed over is plaintext to
  // grpc++: its subject is the relay's TLS stream's (AdoptedPeerSubjects).
  std::string peer_certificate_subject() const override {
    std::shared_ptr<const ::grpc::AuthContext> auth = context_->auth_context();
    if (auth != nullptr) {
      std::vector<::grpc::string_ref> subjects =
          auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
      if (!subjects.empty()) {
        return std::string(subjects.front().data(), subjects.front().size());
      }
    }
    return adopted_ == nullptr ? std::string() : adopted_->Find(peer());
  }

 protected:
  ~GrpcCallContext() = default;

  ::grpc::CallbackServerContext* grpc_context() const { return context_; }

  // Moves the metadata added so far to the call's trailing metadata. INTERNAL
  // (and nothing attached) if it breaks gRPC's rules (rpc/metadata.h).
  absl::Status AttachTrailers() {
    rpc::Metadata trailers;
    {
      absl::MutexLock lock(&metadata_mutex_);
      trailers = std::move(response_metadata_);
    }
    if (absl::Status valid = rpc::ValidateMetadata(trailers); !valid.ok()) {
      return absl::InternalError(absl::StrCat(
          "the server set bad response metadata: ", valid.message()));
    }
    for (const auto& [key, value] : trailers) {
      context_->AddTrailingMetadata(key, value);
    }
    return absl::OkStatus();
  }

 private:
  ::grpc::CallbackServerContext* const context_;
  const AdoptedPeerSubjects* const adopted_;
  const absl::Time deadline_;
  const rpc::Metadata request_metadata_;
  absl::Mutex metadata_mutex_;
  rpc::Metadata response_metadata_ ABSL_GUARDED_BY(metadata_mutex_);
};

// One unary call in progress: the ServerCallContext the implementation sees,
// and the request and response it works on. Created on the gRPC thread that
// receives the call; destroyed by Finish, just before the gRPC call is
// finished, since the CallbackServerContext may be gone right after.
class GrpcServerCall final : public GrpcCallContext<rpc::ServerCallContext> {
 public:
  GrpcServerCall(const rpc::Method& method,
                 ::grpc::CallbackServerContext* context,
                 const AdoptedPeerSubjects* adopted,
                 ::grpc::ByteBuffer* response_buffer)
      : GrpcCallContext(context, adopted),
        reactor_(context->DefaultReactor()),
        response_buffer_(response_buffer),
        request_(method.new_request()),
        response_(method.new_response()) {}

  ::grpc::ServerUnaryReactor* reactor() const { return reactor_; }
  google::protobuf::Message* request() { return request_.get(); }
  google::protobuf::Message* response() { return response_.get(); }

  // Ends the call with `status` (the response is sent only if it is OK) and
  // destroys `call`. Runs once per call, on any thread.
  static void Finish(std::unique_ptr<GrpcServerCall> call,
                     absl::Status status) {
    ::grpc::ServerUnaryReactor* reactor = call->reactor_;
    ::grpc::Status result = call->PrepareResult(std::move(status));
    call.reset();
    reactor->Finish(result);
  }

 private:
  // Attaches the trailers and serializes the response; the status to finish
  // the call with.
  ::grpc::Status PrepareResult(absl::Status status) {
    if (absl::Status attached = AttachTrailers(); !attached.ok()) {
      return ToGrpcStatus(attached);
    }
    if (status.ok())
      status = SerializeToByteBuffer(*response_, response_buffer_);
    return ToGrpcStatus(status);
  }

  ::grpc::ServerUnaryReactor* const reactor_;
  ::grpc::ByteBuffer* const response_buffer_;
  const std::unique_ptr<google::protobuf::Message> request_;
  const std::unique_ptr<google::protobuf::Message> response_;
};

// The UnaryDone handed to the implementation. Finishes the call when run,
// and with INTERNAL when destroyed without having run, so that a lost done
// cannot leave the call (and the server's shutdown) hanging.
class CallCompleter {
 public:
  explicit CallCompleter(std::unique_ptr<GrpcServerCall> call)
      : call_(std::move(call)) {}
  CallCompleter(CallCompleter&&) = default;
  CallCompleter& operator=(CallCompleter&&) = default;
  ~CallCompleter() {
    if (call_ != nullptr) {
      GrpcServerCall::Finish(
          std::move(call_),
          absl::InternalError(
              "the method dropped its done without running it"));
    }
  }

  void operator()(absl::Status status) && {
    GrpcServerCall::Finish(std::move(call_), std::move(status));
  }

 private:
  std::unique_ptr<GrpcServerCall> call_;
};

::grpc::ServerUnaryReactor* ServeCall(const rpc::Method& method,
                                      ::grpc::CallbackServerContext* context,
                                      const AdoptedPeerSubjects* adopted,
                                      const ::grpc::ByteBuffer* request_buffer,
                                      ::grpc::ByteBuffer* response_buffer) {
  auto call = std::make_unique<GrpcServerCall>(method, context, adopted,
                                               response_buffer);
  ::grpc::ServerUnaryReactor* reactor = call->reactor();
  if (absl::Status parsed =
          ParseFromByteBuffer(*request_buffer, call->request());
      !parsed.ok()) {
    GrpcServerCall::Finish(std::move(call), std::move(parsed));
    return reactor;
  }
  rpc::ServerCallContext* call_context = call.get();
  const google::protobuf::Message* request = call->request();
  google::protobuf::Message* response = call->response();
  method.invoke(call_context, request, response,
                CallCompleter(std::move(call)));
  return reactor;
}

// The grpc++ reactor of each streaming kind, over raw bytes.
template <rpc::MethodKind kKind>
using GrpcReactorOf = std::conditional_t<
    kKind == rpc::MethodKind::kClientStreaming,
    ::grpc::ServerReadReactor<::grpc::ByteBuffer>,
    std::conditional_t<
        kKind == rpc::MethodKind::kServerStreaming,
        ::grpc::ServerWriteReactor<::grpc::ByteBuffer>,
        ::grpc::ServerBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer>>>;

// A streaming call of kind `kKind`: grpc++'s reactor for that kind, adapted
// to rpc::ServerStream and the implementation's rpc::ServerStreamReactor.
// Created by the method's handler on the gRPC thread that receives the call;
// deletes itself in grpc++'s OnDone, after the implementation's OnDone.
//
// Requests are parsed from, and responses serialized into, the one buffer of
// each direction (one operation outstanding per direction). A request that
// does not parse ends the reads (OnReadDone(false)) and makes the call's
// status INVALID_ARGUMENT whatever Finish says; a response that cannot be
// serialized cancels the call (INTERNAL) and its write completes with false
// after OnCancel.
//
// No callback before start_stream returns (rpc/stream.h) needs no holding
// here: grpc++ calls only the reactor the handler returned, so nothing of
// this object before Begin has returned, and it backlogs the operations
// started before then (StartRead, StartWrite, Finish: from start_stream or
// from another thread) until it has bound the reactor to the call.
template <rpc::MethodKind kKind>
class GrpcServerStream final : public GrpcReactorOf<kKind>,
                               public GrpcCallContext<rpc::ServerStream> {
  using GrpcReactor = GrpcReactorOf<kKind>;

 public:
  // `response_buffer` is grpc++'s response of a client-streaming call (else
  // nullptr).
  GrpcServerStream(const rpc::Method& method,
                   ::grpc::CallbackServerContext* context,
                   const AdoptedPeerSubjects* adopted,
                   ::grpc::ByteBuffer* response_buffer)
      : GrpcCallContext(context, adopted),
        method_(method),
        response_buffer_(response_buffer) {}

  // Runs the implementation's start function (`request_buffer`: the one
  // request of a server-streaming call) and returns the reactor for grpc++.
  GrpcReactor* Begin(const ::grpc::ByteBuffer* request_buffer) {
    if constexpr (kKind == rpc::MethodKind::kServerStreaming) {
      request_ = method_.new_request();
      if (absl::Status parsed =
              ParseFromByteBuffer(*request_buffer, request_.get());
          !parsed.ok()) {
        // No implementation: grpc++'s OnDone just deletes this.
        GrpcReactor::Finish(ToGrpcStatus(parsed));
        return this;
      }
    }
    if constexpr (kKind == rpc::MethodKind::kClientStreaming) {
      response_ = method_.new_response();
    }
    reactor_ = method_.start_stream(this, request_.get(), response_.get());
    if (reactor_ == nullptr) {
      // A broken implementation, which cannot have called Finish either.
      GrpcReactor::Finish(ToGrpcStatus(absl::InternalError(
          absl::StrCat(method_.path, " started no reactor"))));
    }
    return this;
  }

  // ---- rpc::ServerStream ----
  void StartRead(google::protobuf::Message* request) override {
    if constexpr (rpc::ClientStreams(kKind)) {
      read_target_ = request;
      GrpcReactor::StartRead(&read_buffer_);
    } else {
      Misuse("StartRead on a server-streaming call");
    }
  }
  void StartWrite(const google::protobuf::Message& response) override {
    if constexpr (rpc::ServerStreams(kKind)) {
      if (absl::Status serialized =
              SerializeToByteBuffer(response, &write_buffer_);
          !serialized.ok()) {
        {
          absl::MutexLock lock(&mutex_);
          if (call_error_.ok()) call_error_ = std::move(serialized);
          write_failed_ = true;
        }
        grpc_context()->TryCancel();
        return;
      }
      GrpcReactor::StartWrite(&write_buffer_);
    } else {
      Misuse("StartWrite on a client-streaming call");
    }
  }
  void Finish(absl::Status status) override {
    {
      absl::MutexLock lock(&mutex_);
      if (!call_error_.ok()) status = call_error_;
    }
    if (absl::Status attached = AttachTrailers(); !attached.ok()) {
      status = std::move(attached);
    }
    if constexpr (kKind == rpc::MethodKind::kClientStreaming) {
      if (status.ok()) {
        status = SerializeToByteBuffer(*response_, response_buffer_);
      }
    }
    GrpcReactor::Finish(ToGrpcStatus(status));
  }

  // ---- grpc++'s reactor ----
  // Not virtual for the kinds whose grpc++ reactor does not read (write),
  // so `override` cannot be written (clang's warning is off for these two).
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winconsistent-missing-override"
#endif
  void OnReadDone(bool ok) {
    if (ok) {
      if (absl::Status parsed = ParseFromByteBuffer(read_buffer_, read_target_);
          !parsed.ok()) {
        absl::MutexLock lock(&mutex_);
        if (call_error_.ok()) call_error_ = std::move(parsed);
        ok = false;
      }
    }
    if (reactor_ != nullptr) reactor_->OnReadDone(ok);
  }
  void OnWriteDone(bool ok) {
    if (reactor_ != nullptr) reactor_->OnWriteDone(ok);
  }
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
  void OnCancel() override {
    if (reactor_ == nullptr) return;
    reactor_->OnCancel();
    bool write_failed;
    {
      absl::MutexLock lock(&mutex_);
      write_failed = std::exchange(write_failed_, false);
    }
    if (write_failed) reactor_->OnWriteDone(false);
  }
  void OnDone() override {
    if (reactor_ != nullptr) reactor_->OnDone();
    delete this;
  }

 private:

  [[noreturn]] void Misuse(const char* what) {
    std::fprintf(stderr, "dualrpc::grpc: %s (%s)\n", what,
                 method_.path.c_str());
    std::abort();
  }

  const rpc::Method& method_;
  ::grpc::ByteBuffer* const response_buffer_;
  // The one request of a server-streaming call, the one response of a
  // client-streaming call.
  std::unique_ptr<google::protobuf::Message> request_;
  std::unique_ptr<google::protobuf::Message> response_;
  // The read (write) in progress; one per direction at a time.
  google::protobuf::Message* read_target_ = nullptr;
  ::grpc::ByteBuffer read_buffer_;
  ::grpc::ByteBuffer write_buffer_;
  // The implementation's; set by Begin, before grpc++ can call back.
  rpc::ServerStreamReactor* reactor_ = nullptr;

  absl::Mutex mutex_;
  // What the call ends with whatever Finish says: a request that did not
  // parse, a response that could not be serialized.
  absl::Status call_error_ ABSL_GUARDED_BY(mutex_);
  // A StartWrite that could not serialize; completed after OnCancel.
  bool write_failed_ ABSL_GUARDED_BY(mutex_) = false;
};

// The grpc::Service for one service name. grpc::Server takes the service
// name from the method paths.
class RegistryGrpcService final : public ::grpc::Service {
 public:
  RegistryGrpcService(const std::vector<const rpc::Method*>& methods,
                      const AdoptedPeerSubjects* adopted) {
    for (size_t index = 0; index < methods.size(); ++index) {
      const rpc::Method* method = methods[index];
      // The path's storage is the registry's, which outlives this service.
      AddMethod(new ::grpc::internal::RpcServiceMethod(
          method->path.c_str(), RpcTypeOf(method->kind),
          /*handler=*/nullptr));
      MarkMethodRawCallback(static_cast<int>(index),
                            NewHandler(method, adopted));
    }
  }

 private:
  static ::grpc::internal::RpcMethod::RpcType RpcTypeOf(rpc::MethodKind kind) {
    switch (kind) {
      case rpc::MethodKind::kUnary:
        return ::grpc::internal::RpcMethod::NORMAL_RPC;
      case rpc::MethodKind::kClientStreaming:
        return ::grpc::internal::RpcMethod::CLIENT_STREAMING;
      case rpc::MethodKind::kServerStreaming:
        return ::grpc::internal::RpcMethod::SERVER_STREAMING;
      case rpc::MethodKind::kBidiStreaming:
        return ::grpc::internal::RpcMethod::BIDI_STREAMING;
    }
    return ::grpc::internal::RpcMethod::NORMAL_RPC;
  }

  // The grpc++ callback handler serving `method`, as generated code makes it.
  static ::grpc::internal::MethodHandler* NewHandler(
      const rpc::Method* method, const AdoptedPeerSubjects* adopted) {
    using ::grpc::ByteBuffer;
    using ::grpc::CallbackServerContext;
    switch (method->kind) {
      case rpc::MethodKind::kUnary:
        return new ByteBufferHandler(
            [method, adopted](CallbackServerContext* context,
                              const ByteBuffer* request, ByteBuffer* response) {
              return ServeCall(*method, context, adopted, request, response);
            });
      case rpc::MethodKind::kClientStreaming:
        return new ::grpc::internal::CallbackClientStreamingHandler<
            ByteBuffer, ByteBuffer>(
            [method, adopted](CallbackServerContext* context,
                              ByteBuffer* response) {
              return (new GrpcServerStream<rpc::MethodKind::kClientStreaming>(
                          *method, context, adopted, response))
                  ->Begin(nullptr);
            });
      case rpc::MethodKind::kServerStreaming:
        return new ::grpc::internal::CallbackServerStreamingHandler<
            ByteBuffer, ByteBuffer>([method, adopted](
                                        CallbackServerContext* context,
                                        const ByteBuffer* request) {
          return (new GrpcServerStream<rpc::MethodKind::kServerStreaming>(
                      *method, context, adopted, nullptr))
              ->Begin(request);
        });
      case rpc::MethodKind::kBidiStreaming:
        return new ::grpc::internal::CallbackBidiHandler<ByteBuffer,
                                                         ByteBuffer>(
            [method, adopted](CallbackServerContext* context) {
              return (new GrpcServerStream<rpc::MethodKind::kBidiStreaming>(
                          *method, context, adopted, nullptr))
                  ->Begin(nullptr);
            });
    }
    return nullptr;
  }
};

}  // namespace

void AdoptedPeerSubjects::Set(int fd, std::string subject) {
  absl::MutexLock lock(&mu_);
  if (subject.empty()) {
    by_fd_.erase(fd);
  } else {
    by_fd_[fd] = std::move(subject);
  }
}

std::string AdoptedPeerSubjects::Find(absl::string_view peer) const {
  int fd = 0;
  if (!absl::ConsumePrefix(&peer, "fd:") || !absl::SimpleAtoi(peer, &fd)) {
    return {};
  }
  absl::MutexLock lock(&mu_);
  auto found = by_fd_.find(fd);
  return found == by_fd_.end() ? std::string() : found->second;
}

absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> MakeGrpcServices(
    const rpc::ServiceRegistry& registry, const AdoptedPeerSubjects* adopted) {
  std::vector<std::unique_ptr<::grpc::Service>> services;
  for (const std::string& name : registry.ServiceNames()) {
    std::vector<const rpc::Method*> methods =
        registry.ServiceMethods(name);
    if (methods.empty()) {
      return absl::InternalError(
          absl::StrCat("registry lists service ", name, " without methods"));
    }
    services.push_back(std::make_unique<RegistryGrpcService>(methods, adopted));
  }
  return services;
}

}  // namespace dualrpc::grpc
