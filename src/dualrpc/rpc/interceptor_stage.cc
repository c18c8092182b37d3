#include "dualrpc/rpc/interceptor_stage.h"

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/rpc/reactor.h"

namespace dualrpc::rpc::internal {
namespace {

using Interceptors = std::vector<std::shared_ptr<ServerInterceptor>>;

// The wall clock, as absl::Now() reads it, for half its cost: the vDSO's
// clock_gettime is ~90 instructions where Debian's absl::Now() is ~190
// (callgrind); two are read per call when an interceptor wants its end.
absl::Time WallNow() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return absl::TimeFromTimespec(now);
}

// Runs OnCallStart of each interceptor in order until one rejects the call.
// `*seen` becomes the number of interceptors that saw it (all of them when
// the call is accepted), for OnCallEnd.
absl::Status RunCallStart(const Interceptors& interceptors,
                          const Method& method, ServerCallContext* context,
                          std::size_t* seen) {
  for (std::size_t i = 0; i < interceptors.size(); ++i) {
    absl::Status status = interceptors[i]->OnCallStart(method, context);
    if (!status.ok()) {
      *seen = i + 1;
      return status;
    }
  }
  *seen = interceptors.size();
  return absl::OkStatus();
}

void RunCallEnd(const Interceptors& interceptors, std::size_t seen,
                CallRecord* record) {
  record->duration = WallNow() - record->start;
  for (std::size_t i = 0; i < seen; ++i) {
    if (interceptors[i]->wants_call_end()) interceptors[i]->OnCallEnd(*record);
  }
}

// A streaming call with OnCallEnd bookkeeping: the stream the
// implementation drives (forwarding to the transport's, counting messages
// and catching Finish's status) and the reactor the transport calls
// (forwarding to the implementation's). Deletes itself in OnDone, after
// OnCallEnd. The counters of each direction are touched only by that
// direction's operations, which are serial (one read, one write
// outstanding), so no lock: OnReadDone and OnWriteDone may run at once.
class RecordingStream final : public ServerStream, public ServerStreamReactor {
 public:
  RecordingStream(const Method* method, ServerStream* transport_stream,
                  std::shared_ptr<const InterceptorStage> stage)
      : transport_stream_(transport_stream), stage_(std::move(stage)) {
    record_.method = method;
    record_.context = this;
    record_.start = WallNow();
  }

  // Runs the stage, then the implementation (or a reactor that finishes
  // the call with the rejection). Returns what the transport drives.
  ServerStreamReactor* Start(const Method& implementation,
                             const google::protobuf::Message* request,
                             google::protobuf::Message* response) {
    response_ = response;
    if (record_.method->kind == MethodKind::kServerStreaming &&
        request != nullptr) {
      record_.request_messages = 1;
      record_.request_bytes = static_cast<std::int64_t>(request->ByteSizeLong());
    }
    absl::Status status =
        RunCallStart(stage_->interceptors, *record_.method, this, &seen_);
    if (!status.ok()) {
      reactor_ = new FinishedReactor<ServerReactor>(this, std::move(status));
    } else {
      reactor_ = implementation.start_stream(this, request, response);
    }
    return this;
  }

  // ---- ServerCallContext: the transport's, but the principal ----
  absl::Time deadline() const override {
    return transport_stream_->deadline();
  }
  bool IsCancelled() const override {
    return transport_stream_->IsCancelled();
  }
  const Metadata& request_metadata() const override {
    return transport_stream_->request_metadata();
  }
  void AddResponseMetadata(std::string key, std::string value) override {
    transport_stream_->AddResponseMetadata(std::move(key), std::move(value));
  }
  std::string peer() const override { return transport_stream_->peer(); }
  absl::string_view transport() const override {
    return transport_stream_->transport();
  }
  std::string peer_certificate_subject() const override {
    return transport_stream_->peer_certificate_subject();
  }

  // ---- ServerStream ----
  void StartRead(google::protobuf::Message* request) override {
    read_target_ = request;
    transport_stream_->StartRead(request);
  }
  void StartWrite(const google::protobuf::Message& response) override {
    write_bytes_ = static_cast<std::int64_t>(response.ByteSizeLong());
    transport_stream_->StartWrite(response);
  }
  void Finish(absl::Status status) override {
    // The one response of a client-streaming call goes out with Finish(OK).
    if (status.ok() && record_.method->kind == MethodKind::kClientStreaming &&
        response_ != nullptr) {
      record_.response_messages = 1;
      record_.response_bytes =
          static_cast<std::int64_t>(response_->ByteSizeLong());
    }
    record_.status = status;
    transport_stream_->Finish(std::move(status));
  }

  // ---- ServerStreamReactor ----
  void OnReadDone(bool ok) override {
    if (ok) {
      ++record_.request_messages;
      record_.request_bytes +=
          static_cast<std::int64_t>(read_target_->ByteSizeLong());
    }
    reactor_->OnReadDone(ok);
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      ++record_.response_messages;
      record_.response_bytes += write_bytes_;
    }
    reactor_->OnWriteDone(ok);
  }
  void OnCancel() override { reactor_->OnCancel(); }
  void OnDone() override {
    reactor_->OnDone();
    RunCallEnd(stage_->interceptors, seen_, &record_);
    delete this;
  }

 private:
  ~RecordingStream() override = default;

  ServerStream* const transport_stream_;
  const std::shared_ptr<const InterceptorStage> stage_;
  CallRecord record_;
  std::size_t seen_ = 0;
  google::protobuf::Message* response_ = nullptr;
  ServerStreamReactor* reactor_ = nullptr;
  google::protobuf::Message* read_target_ = nullptr;
  std::int64_t write_bytes_ = 0;
};

// What a recorded unary call keeps between the implementation's start and
// its done. The done wrapper holds only a pointer to it, which fits
// AnyInvocable's inline storage (the record alone does not), and the block
// comes from a per-thread cache (base/heap.h): a recorded call allocates
// nothing once the thread that ends its calls is warm. Made by
// InvokeRecorded, destroyed when the wrapper runs (or is destroyed unrun).
struct RecordedUnaryCall final
    : public base::ThreadCachedAllocation<RecordedUnaryCall> {
  // The stage by pointer: the method holding it outlives its calls, and a
  // shared_ptr copy would cost every call two contended atomic operations.
  const InterceptorStage* stage = nullptr;
  google::protobuf::Message* response = nullptr;
  CallRecord record;
  UnaryDone done;
};

// Unary, with OnCallEnd bookkeeping: runs the stage, then the
// implementation with a done that records the call, runs OnCallEnd (while
// the context is still valid) and then the transport's done.
void InvokeRecorded(const Method& implementation, const Method& served,
                    const std::shared_ptr<const InterceptorStage>& stage,
                    ServerCallContext* context,
                    const google::protobuf::Message* request,
                    google::protobuf::Message* response, UnaryDone done) {
  auto call = std::make_unique<RecordedUnaryCall>();
  CallRecord& record = call->record;
  record.method = &served;
  record.context = context;
  record.start = WallNow();
  record.request_messages = 1;
  record.request_bytes = static_cast<std::int64_t>(request->ByteSizeLong());
  std::size_t seen = 0;
  absl::Status status =
      RunCallStart(stage->interceptors, served, context, &seen);
  if (!status.ok()) {
    record.status = status;
    RunCallEnd(stage->interceptors, seen, &record);
    std::move(done)(std::move(status));
    return;
  }
  call->stage = stage.get();
  call->response = response;
  call->done = std::move(done);
  implementation.invoke(
      context, request, response,
      [call = std::move(call)](absl::Status status) mutable {
        CallRecord& record = call->record;
        if (status.ok()) {
          record.response_messages = 1;
          record.response_bytes =
              static_cast<std::int64_t>(call->response->ByteSizeLong());
        }
        record.status = status;
        const Interceptors& interceptors = call->stage->interceptors;
        RunCallEnd(interceptors, interceptors.size(), &record);
        UnaryDone done = std::move(call->done);
        // Freed before the transport's done, on the thread that ran the
        // call's end: the block goes back to this thread's cache while it
        // is warm.
        call.reset();
        std::move(done)(std::move(status));
      });
}

}  // namespace

Method InterceptedMethod(const Method* implementation, const Method* served,
                         std::shared_ptr<const InterceptorStage> stage) {
  Method method;
  method.path = implementation->path;
  method.kind = implementation->kind;
  method.new_request = implementation->new_request;
  method.new_response = implementation->new_response;
  if (implementation->kind == MethodKind::kUnary) {
    method.invoke = [implementation, served, stage = std::move(stage)](
                        ServerCallContext* context,
                        const google::protobuf::Message* request,
                        google::protobuf::Message* response, UnaryDone done) {
      if (stage->wants_call_end) {
        InvokeRecorded(*implementation, *served, stage, context, request,
                       response, std::move(done));
        return;
      }
      // The common case: no allocation, no clock, no copy.
      std::size_t seen = 0;
      absl::Status status =
          RunCallStart(stage->interceptors, *served, context, &seen);
      if (!status.ok()) {
        std::move(done)(std::move(status));
        return;
      }
      implementation->invoke(context, request, response, std::move(done));
    };
    return method;
  }
  method.start_stream = [implementation, served, stage = std::move(stage)](
                            ServerStream* stream,
                            const google::protobuf::Message* request,
                            google::protobuf::Message* response)
      -> ServerStreamReactor* {
    if (stage->wants_call_end) {
      return (new RecordingStream(served, stream, stage))
          ->Start(*implementation, request, response);
    }
    std::size_t seen = 0;
    absl::Status status =
        RunCallStart(stage->interceptors, *served, stream, &seen);
    if (!status.ok()) {
      return new FinishedReactor<ServerReactor>(stream, std::move(status));
    }
    return implementation->start_stream(stream, request, response);
  };
  return method;
}

}  // namespace dualrpc::rpc::internal
