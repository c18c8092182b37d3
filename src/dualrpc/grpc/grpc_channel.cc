#include "dualrpc/grpc/grpc_channel.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/stub_options.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/byte_buffer_codec.h"
#include "dualrpc/grpc/status_conversion.h"
#include "dualrpc/rpc/metadata.h"
#include "nlohmann/json.hpp"

namespace dualrpc::grpc {

struct GrpcCall;
class GrpcStream;

// The calls of one GrpcChannel: those gRPC has not finished (intrusive
// lists, no allocation per call; one of unary calls, one of streams), so
// that destruction can cancel them, and the count of those whose done (a
// stream's OnDone) has not run, so that it can wait for them.
class GrpcChannel::CallList {
 public:
  // `tls`: the channel's calls go over TLS (ExplainConnectionFailure).
  explicit CallList(bool tls) : tls_(tls) {}

  // A finished call's status as its done receives it.
  absl::Status Explain(absl::Status status) const {
    return ExplainConnectionFailure(std::move(status), tls_);
  }

  // A call about to start.
  void Add(GrpcCall* call);
  void Add(GrpcStream* stream);
  // gRPC finished the call: it can no longer be cancelled; its done is next.
  void Remove(GrpcCall* call);
  void Remove(GrpcStream* stream);
  // The done of a call that was Add()ed has run.
  void DoneRan();
  // TryCancel()s every call in the list, outside the lock (gRPC may run a
  // call's completion inline, which Remove()s it).
  void CancelAll();
  // Until every call's done has run.
  void WaitForDones();

 private:
  bool all_done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending_dones_ == 0;
  }

  const bool tls_;

  template <typename Call>
  void Link(Call* call, Call** head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename Call>
  static void Unlink(Call* call, Call** head);
  template <typename Call>
  static void Hold(Call* head, std::vector<Call*>* held);

  absl::Mutex mu_;
  GrpcCall* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  GrpcStream* stream_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::size_t pending_dones_ ABSL_GUARDED_BY(mu_) = 0;
};

// Everything one call needs until gRPC reports its end. Created by
// StartUnaryCall; freed by whichever lets go of it last: the completion
// callback (before it runs the done), or a destructor cancelling it.
struct GrpcCall {
  ::grpc::ClientContext context;
  std::string method;
  ::grpc::ByteBuffer request;
  ::grpc::ByteBuffer response;
  google::protobuf::MessageLite* response_message = nullptr;
  rpc::Metadata* response_metadata = nullptr;
  rpc::Metadata* response_headers = nullptr;
  rpc::UnaryDone done;
  std::shared_ptr<GrpcChannel::CallList> list;
  // Links in `list`, guarded by its mutex.
  GrpcCall* previous = nullptr;
  GrpcCall* next = nullptr;
  // The completion's reference, plus one per CancelAll() holding the call.
  std::atomic<int> references{1};

  static void Unref(GrpcCall* call) {
    if (call->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete call;
  }
};

template <typename Call>
void GrpcChannel::CallList::Link(Call* call, Call** head) {
  ++pending_dones_;
  call->next = *head;
  if (*head != nullptr) (*head)->previous = call;
  *head = call;
}

template <typename Call>
void GrpcChannel::CallList::Unlink(Call* call, Call** head) {
  if (call->previous != nullptr) {
    call->previous->next = call->next;
  } else {
    *head = call->next;
  }
  if (call->next != nullptr) call->next->previous = call->previous;
  call->previous = call->next = nullptr;
}

void GrpcChannel::CallList::Add(GrpcCall* call) {
  absl::MutexLock lock(&mu_);
  Link(call, &head_);
}

void GrpcChannel::CallList::Remove(GrpcCall* call) {
  absl::MutexLock lock(&mu_);
  Unlink(call, &head_);
}

void GrpcChannel::CallList::DoneRan() {
  absl::MutexLock lock(&mu_);
  --pending_dones_;
}

void GrpcChannel::CallList::WaitForDones() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &CallList::all_done));
}

namespace {

// Dones of any GrpcChannel running on this thread: a gRPC callback thread,
// where a destructor must not wait for other calls' callbacks.
thread_local int t_running_dones = 0;

void AppendMetadata(
    const std::multimap<::grpc::string_ref, ::grpc::string_ref>& from,
    rpc::Metadata* to) {
  for (const auto& [key, value] : from) {
    absl::string_view key_view(key.data(), key.size());
    if (absl::StartsWith(key_view, "grpc-")) continue;
    to->emplace_back(std::string(key_view),
                     std::string(value.data(), value.size()));
  }
}

// The server's initial metadata into `headers`, or into `metadata` when
// `headers` is null; then its trailers into `metadata` (CallOptions).
void CopyResponseMetadata(const ::grpc::ClientContext& context,
                          rpc::Metadata* headers, rpc::Metadata* metadata) {
  if (headers != nullptr) {
    AppendMetadata(context.GetServerInitialMetadata(), headers);
  } else if (metadata != nullptr) {
    AppendMetadata(context.GetServerInitialMetadata(), metadata);
  }
  if (metadata != nullptr) {
    AppendMetadata(context.GetServerTrailingMetadata(), metadata);
  }
}

void CompleteCall(std::unique_ptr<GrpcCall> call,
                  const ::grpc::Status& grpc_status) {
  absl::Status status = call->list->Explain(FromGrpcStatus(grpc_status));
  CopyResponseMetadata(call->context, call->response_headers,
                       call->response_metadata);
  if (status.ok()) {
    absl::Status parsed =
        ParseFromByteBuffer(call->response, call->response_message);
    // As grpc++'s own stubs report an unreadable response.
    if (!parsed.ok()) status = absl::InternalError(parsed.message());
  }
  rpc::UnaryDone done = std::move(call->done);
  // The call's gRPC state (its ClientContext) is released before the done
  // runs, as grpc++'s own stubs do: once a caller has heard of its last
  // call, it may shut gRPC down. A CancelAll() still holding the call
  // releases it instead, before its channel's destructor returns.
  const std::shared_ptr<GrpcChannel::CallList> list = call->list;
  list->Remove(call.get());
  GrpcCall::Unref(call.release());
  ++t_running_dones;
  std::move(done)(std::move(status));
  --t_running_dones;
  list->DoneRan();
}

}  // namespace

// One streaming call: grpc++'s bidi reactor over raw bytes (a generic stub
// makes every kind a bidi call on the wire), adapted to rpc::ClientStream
// and the caller's rpc::ClientStreamReactor. Created by NewStream; freed by
// whichever lets go of it last: grpc++'s OnDone (after the caller's OnDone
// and before the call counts as done, so that a waiting destructor outlives
// it), or a CancelAll() holding it.
//
// A response that does not parse cancels the call, its read completes with
// false and the call ends with INTERNAL (as grpc++'s stubs report an
// unreadable response); a request that cannot be serialized cancels the call
// with INTERNAL, and its write completes with false just before OnDone.
//
// Operations come from the caller's threads, outside grpc++'s reactions,
// which grpc++ allows only under a hold (client_callback.h, AddHold):
// without one, grpc++ destroys its half of the call as soon as the status
// is in and no operation is outstanding, before our OnDone can say so, and
// an operation started in that window reached freed memory (the soak's
// "pure virtual method called" in grpc_call_unref). So Start() takes a
// hold, and lets go of it when the call's status is in, which grpc++ tells
// no reactor: a client interceptor on the channel's streaming calls
// (StatusWatcher) hears of it before grpc++ acts on it. From then on,
// operations are dropped (completed with false before OnDone).
class GrpcStream final
    : public ::grpc::ClientBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer>,
      public rpc::ClientStream {
 public:
  GrpcStream(absl::string_view method, rpc::MethodKind kind,
             const rpc::CallOptions& options, rpc::ClientStreamReactor* reactor,
             std::shared_ptr<GrpcChannel::CallList> list)
      : method_(method),
        kind_(kind),
        reactor_(reactor),
        response_metadata_(options.response_metadata),
        response_headers_(options.response_headers),
        list_(std::move(list)) {
    if (options.timeout != absl::InfiniteDuration()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
    }
    for (const auto& [key, value] : options.metadata) {
      context.AddMetadata(key, value);
    }
  }

  const std::string& method() const { return method_; }

  // ---- rpc::ClientStream ----
  void Start() override {
    // Before StartCall, as grpc++ requires of a hold; End() releases it
    // (here, through Leave(), when the call ended before it started).
    {
      absl::MutexLock lock(&mutex_);
      hold_taken_ = true;
      ++entered_;
    }
    AddHold();
    StartCall();
    Leave();
  }
  void StartRead(google::protobuf::MessageLite* response) override {
    if (!Enter(&dropped_read_)) return;
    read_target_ = response;
    ClientBidiReactor::StartRead(&read_buffer_);
    Leave();
  }
  void StartWrite(const google::protobuf::MessageLite& request) override {
    if (!Enter(&dropped_write_)) return;
    if (absl::Status serialized =
            SerializeToByteBuffer(request, &write_buffer_);
        !serialized.ok()) {
      {
        absl::MutexLock lock(&mutex_);
        if (call_error_.ok()) call_error_ = std::move(serialized);
        write_failed_ = true;
      }
      context.TryCancel();
      Leave();
      return;
    }
    // A server-streaming call's one request also half-closes (rpc/stream.h).
    if (kind_ == rpc::MethodKind::kServerStreaming) {
      StartWriteLast(&write_buffer_, ::grpc::WriteOptions());
    } else {
      ClientBidiReactor::StartWrite(&write_buffer_);
    }
    Leave();
  }
  void StartWritesDone() override {
    if (!Enter(&dropped_writes_done_)) return;
    ClientBidiReactor::StartWritesDone();
    Leave();
  }
  void Cancel() override { context.TryCancel(); }
  // The call's status is in (StatusWatcher, before grpc++ acts on it): no
  // operation may reach grpc++ after this; the hold can go.
  void StatusIn() { End(); }

  // ---- grpc++'s reactor ----
  void OnReadDone(bool ok) override {
    if (ok) {
      if (absl::Status parsed = ParseFromByteBuffer(read_buffer_, read_target_);
          !parsed.ok()) {
        {
          absl::MutexLock lock(&mutex_);
          if (call_error_.ok()) {
            call_error_ = absl::InternalError(parsed.message());
          }
        }
        context.TryCancel();
        ok = false;
      }
    }
    if (!ok) MarkOver();
    InCallback([&] { reactor_->OnReadDone(ok); });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) MarkOver();
    InCallback([&] { reactor_->OnWriteDone(ok); });
  }
  void OnWritesDoneDone(bool ok) override {
    InCallback([&] { reactor_->OnWritesDoneDone(ok); });
  }
  void OnDone(const ::grpc::Status& grpc_status) override {
    absl::Status status = list_->Explain(FromGrpcStatus(grpc_status));
    bool write_failed, dropped_read, dropped_writes_done;
    {
      absl::MutexLock lock(&mutex_);
      over_ = true;
      if (!call_error_.ok()) status = call_error_;
      write_failed = write_failed_ || dropped_write_;
      dropped_read = dropped_read_;
      dropped_writes_done = dropped_writes_done_;
    }
    CopyResponseMetadata(context, response_headers_, response_metadata_);
    const std::shared_ptr<GrpcChannel::CallList> list = list_;
    rpc::ClientStreamReactor* const reactor = reactor_;
    list->Remove(this);
    InCallback([&] {
      if (dropped_read) reactor->OnReadDone(false);
      if (write_failed) reactor->OnWriteDone(false);
      if (dropped_writes_done) reactor->OnWritesDoneDone(false);
      reactor->OnDone(status);
    });
    Unref(this);
    list->DoneRan();
  }

  static void Unref(GrpcStream* stream) {
    if (stream->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete stream;
  }

  ::grpc::ClientContext context;
  // Links in the CallList, guarded by its mutex.
  GrpcStream* previous = nullptr;
  GrpcStream* next = nullptr;
  // grpc++'s OnDone's reference, plus one per CancelAll() holding the call.
  std::atomic<int> references{1};

 private:
  // An operation from the caller may reach grpc++: false (and `*dropped`
  // set) if the call is over (see over_); else true, and the hold stays
  // until the matching Leave().
  bool Enter(bool* dropped) {
    absl::MutexLock lock(&mutex_);
    if (over_) {
      *dropped = true;
      return false;
    }
    ++entered_;
    return true;
  }
  void Leave() {
    bool release;
    {
      absl::MutexLock lock(&mutex_);
      --entered_;
      release = TakeHold();
    }
    if (release) RemoveHold();
  }
  void MarkOver() {
    absl::MutexLock lock(&mutex_);
    over_ = true;
  }
  // The call ended: later operations are dropped, and the hold goes as
  // soon as no operation is entering grpc++ (here, or in the last Leave:
  // never waited for, since a reaction may run inside a caller's operation
  // on its thread). Any number of times.
  void End() {
    bool release;
    {
      absl::MutexLock lock(&mutex_);
      over_ = true;
      release = TakeHold();
    }
    if (release) RemoveHold();
  }
  // True once: when the hold is to be removed now.
  bool TakeHold() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!over_ || entered_ > 0 || !hold_taken_ || hold_released_) {
      return false;
    }
    hold_released_ = true;
    return true;
  }

  // Runs `callback` as a callback of a GrpcChannel call (see the destructor).
  template <typename Callback>
  static void InCallback(Callback callback) {
    ++t_running_dones;
    callback();
    --t_running_dones;
  }

  const std::string method_;
  const rpc::MethodKind kind_;
  rpc::ClientStreamReactor* const reactor_;
  rpc::Metadata* const response_metadata_;
  rpc::Metadata* const response_headers_;
  const std::shared_ptr<GrpcChannel::CallList> list_;
  // The read (write) in progress; one per direction at a time.
  google::protobuf::MessageLite* read_target_ = nullptr;
  ::grpc::ByteBuffer read_buffer_;
  ::grpc::ByteBuffer write_buffer_;

  absl::Mutex mutex_;
  // What the call ends with whatever the server says.
  absl::Status call_error_ ABSL_GUARDED_BY(mutex_);
  // A StartWrite that could not serialize; completed before OnDone.
  bool write_failed_ ABSL_GUARDED_BY(mutex_) = false;
  // Set once a read or write failed (the call is over for grpc++, which may
  // run OnDone as soon as its last operation completes) or OnDone began. An
  // operation started after that must not reach grpc++, which would complete
  // it after OnDone, on a freed reactor: it is dropped and completed with
  // false just before OnDone.
  bool over_ ABSL_GUARDED_BY(mutex_) = false;
  // Operations between Enter and Leave; the hold's removal waits for none.
  int entered_ ABSL_GUARDED_BY(mutex_) = 0;
  bool hold_taken_ ABSL_GUARDED_BY(mutex_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mutex_) = false;
  bool dropped_read_ ABSL_GUARDED_BY(mutex_) = false;
  bool dropped_write_ ABSL_GUARDED_BY(mutex_) = false;
  bool dropped_writes_done_ ABSL_GUARDED_BY(mutex_) = false;
};

void GrpcChannel::CallList::Add(GrpcStream* stream) {
  absl::MutexLock lock(&mu_);
  Link(stream, &stream_head_);
}

void GrpcChannel::CallList::Remove(GrpcStream* stream) {
  absl::MutexLock lock(&mu_);
  Unlink(stream, &stream_head_);
}

template <typename Call>
void GrpcChannel::CallList::Hold(Call* head, std::vector<Call*>* held) {
  for (Call* call = head; call != nullptr; call = call->next) {
    call->references.fetch_add(1, std::memory_order_relaxed);
    held->push_back(call);
  }
}

void GrpcChannel::CallList::CancelAll() {
  std::vector<GrpcCall*> held_calls;
  std::vector<GrpcStream*> held_streams;
  {
    absl::MutexLock lock(&mu_);
    Hold(head_, &held_calls);
    Hold(stream_head_, &held_streams);
  }
  for (GrpcCall* call : held_calls) {
    call->context.TryCancel();
    GrpcCall::Unref(call);
  }
  for (GrpcStream* stream : held_streams) {
    stream->context.TryCancel();
    GrpcStream::Unref(stream);
  }
}

namespace {

// The stream NewStream is preparing on this thread: grpc++ creates a call's
// interceptors inside PrepareBidiStreamingCall, on the caller's thread.
thread_local GrpcStream* t_preparing_stream = nullptr;

// Tells a GrpcStream its status is in (GrpcStream's comment says why).
// POST_RECV_STATUS runs while grpc++ finalizes the status batch, before
// that batch's completion counts towards destroying the call.
class StatusWatcher final : public ::grpc::experimental::Interceptor {
 public:
  explicit StatusWatcher(GrpcStream* stream) : stream_(stream) {}

  void Intercept(
      ::grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            ::grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      stream_->StatusIn();
    }
    methods->Proceed();
  }

 private:
  GrpcStream* const stream_;
};

// Streaming calls only: a unary call gets no interceptor, so grpc++ skips
// interception for it altogether.
class StatusWatcherFactory final
    : public ::grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateClientInterceptor(
      ::grpc::experimental::ClientRpcInfo* /*info*/) override {
    if (t_preparing_stream == nullptr) return nullptr;
    return new StatusWatcher(t_preparing_stream);
  }
};

}  // namespace

absl::StatusOr<std::shared_ptr<GrpcChannel>> GrpcChannel::Create(
    absl::string_view target, const GrpcChannelOptions& options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("empty gRPC target");
  }
  if (options.channel_count < 1 ||
      options.channel_count > kMaxGrpcChannelCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("channel_count ", options.channel_count, " is outside 1..",
                     kMaxGrpcChannelCount));
  }
  if (options.max_receive_message_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_receive_message_bytes ",
                     options.max_receive_message_bytes, " is not positive"));
  }
  if (options.keepalive_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive_time must be positive");
  }
  if (options.connect_before <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_before must be positive");
  }
  std::shared_ptr<::grpc::ChannelCredentials> credentials =
      ::grpc::InsecureChannelCredentials();
  if (options.tls.has_value()) {
    absl::StatusOr<std::shared_ptr<::grpc::ChannelCredentials>> tls =
        MakeChannelCredentials(*options.tls);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
  }
  const absl::Time connect_deadline = absl::Now() + options.connect_before;
  std::vector<std::unique_ptr<::grpc::GenericStub>> stubs;
  for (int index = 0; index < options.channel_count; ++index) {
    ::grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
    // Channels with equal arguments share gRPC's subchannels, and so one
    // connection; a distinct argument per channel gives each its own.
    args.SetInt(GRPC_ARG_CHANNEL_ID, index);
    if (options.keepalive_time != absl::InfiniteDuration()) {
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                  static_cast<int>(absl::ToInt64Milliseconds(
                      std::min(options.keepalive_time, absl::Hours(24)))));
    }
    if (!options.authority.empty()) {
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, options.authority);
    }
    if (options.tls.has_value() && !options.tls->server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls->server_name);
    }
    if (!options.lb_policy.empty()) {
      // A default service config (one from the resolver would win): the
      // policy, and health checking so that a draining server stops being
      // picked before it closes (docs/ARCHITECTURE.md).
      nlohmann::json config;
      config["loadBalancingConfig"] = nlohmann::json::array(
          {{{options.lb_policy, nlohmann::json::object()}}});
      config["healthCheckConfig"] = {{"serviceName", ""}};
      args.SetServiceConfigJSON(config.dump());
    }
    std::vector<std::unique_ptr<
        ::grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<StatusWatcherFactory>());
    std::shared_ptr<::grpc::Channel> channel =
        ::grpc::experimental::CreateCustomChannelWithInterceptors(
            std::string(target), credentials, args, std::move(interceptors));
    if (options.connect_before != absl::InfiniteDuration() &&
        !channel->WaitForConnected(absl::ToChronoTime(connect_deadline))) {
      return absl::UnavailableError(
          absl::StrCat("no connection to ", target, " within ",
                       absl::FormatDuration(options.connect_before)));
    }
    stubs.push_back(std::make_unique<::grpc::GenericStub>(std::move(channel)));
  }
  return std::shared_ptr<GrpcChannel>(
      new GrpcChannel(std::move(stubs), options.tls.has_value()));
}

GrpcChannel::GrpcChannel(
    std::vector<std::unique_ptr<::grpc::GenericStub>> stubs, bool tls)
    : stubs_(std::move(stubs)), calls_(std::make_shared<CallList>(tls)) {}

GrpcChannel::~GrpcChannel() {
  calls_->CancelAll();
  if (t_running_dones == 0) calls_->WaitForDones();
}

void GrpcChannel::StartUnaryCall(absl::string_view method,
                                 const google::protobuf::MessageLite& request,
                                 google::protobuf::MessageLite* response,
                                 const rpc::CallOptions& options,
                                 rpc::UnaryDone done) {
  // grpc++ aborts the process on metadata that gRPC core rejects.
  if (absl::Status valid = rpc::ValidateMetadata(options.metadata);
      !valid.ok()) {
    std::move(done)(std::move(valid));
    return;
  }
  auto call = std::make_unique<GrpcCall>();
  if (absl::Status serialized = SerializeToByteBuffer(request, &call->request);
      !serialized.ok()) {
    std::move(done)(std::move(serialized));
    return;
  }
  if (options.timeout != absl::InfiniteDuration()) {
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options.timeout));
  }
  for (const auto& [key, value] : options.metadata) {
    call->context.AddMetadata(key, value);
  }
  call->method = std::string(method);
  call->response_message = response;
  call->response_metadata = options.response_metadata;
  call->response_headers = options.response_headers;
  call->done = std::move(done);

  ::grpc::GenericStub& stub =
      *stubs_[next_stub_.fetch_add(1, std::memory_order_relaxed) %
              stubs_.size()];
  call->list = calls_;
  // Owned by the completion callback from here on.
  GrpcCall* in_flight = call.release();
  calls_->Add(in_flight);
  stub.UnaryCall(&in_flight->context, in_flight->method, ::grpc::StubOptions(),
                 &in_flight->request, &in_flight->response,
                 [in_flight](::grpc::Status status) {
                   CompleteCall(std::unique_ptr<GrpcCall>(in_flight), status);
                 });
}

rpc::ClientStream* GrpcChannel::NewStream(absl::string_view method,
                                          rpc::MethodKind kind,
                                          const rpc::CallOptions& options,
                                          rpc::ClientStreamReactor* reactor) {
  if (kind == rpc::MethodKind::kUnary) {
    return rpc::NewFailedStream(
        reactor, absl::InvalidArgumentError(absl::StrCat(
                     method, ": NewStream is for streaming calls")));
  }
  // grpc++ aborts the process on metadata that gRPC core rejects.
  if (absl::Status valid = rpc::ValidateMetadata(options.metadata);
      !valid.ok()) {
    return rpc::NewFailedStream(reactor, std::move(valid));
  }
  auto* stream = new GrpcStream(method, kind, options, reactor, calls_);
  ::grpc::GenericStub& stub =
      *stubs_[next_stub_.fetch_add(1, std::memory_order_relaxed) %
              stubs_.size()];
  calls_->Add(stream);
  t_preparing_stream = stream;
  stub.PrepareBidiStreamingCall(&stream->context, stream->method(),
                                ::grpc::StubOptions(), stream);
  t_preparing_stream = nullptr;
  return stream;
}

}  // namespace dualrpc::grpc
