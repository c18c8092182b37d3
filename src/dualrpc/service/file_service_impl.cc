#include "dualrpc/service/file_service_impl.h"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"

namespace dualrpc::service {
namespace {

// One WalkTree call. The call is a chain of steps, exactly one alive at a
// time: a batch read on the executor (ReadBatch), then a write in flight
// (OnWriteDone), then the next read. So at most one write is outstanding,
// Finish runs exactly once (from whichever step ends the chain) and never
// with a write outstanding, and no state needs a lock: each step hands the
// reactor to the next through the executor's queue or the transport.
class WalkTreeReactor final
    : public rpc::ServerWriteReactor<v1::WalkTreeResponse> {
 public:
  WalkTreeReactor(rpc::ServerStream* stream, const v1::WalkTreeRequest* request,
                  const fileservice::FileServiceCore* core,
                  base::BlockingExecutor* executor)
      : ServerWriteReactor(stream),
        request_(request),
        core_(core),
        executor_(executor) {
    ScheduleRead();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(absl::CancelledError("call ended"));
      return;
    }
    if (walk_complete_) {
      Finish(absl::OkStatus());
      return;
    }
    ScheduleRead();
  }
  void OnDone() override { delete this; }

 private:
  // Each batch queues under the call's connection (see FileServiceImpl),
  // so a long walk takes its turns like any other of that connection's work.
  void ScheduleRead() {
    absl::Status submitted =
        executor_->Submit(context()->peer(), [this] { ReadBatch(); });
    if (!submitted.ok()) Finish(submitted);
  }

  // On an executor thread.
  void ReadBatch() {
    if (context()->IsCancelled()) {
      Finish(absl::CancelledError("call cancelled"));
      return;
    }
    if (absl::Now() >= context()->deadline()) {
      Finish(absl::DeadlineExceededError("deadline exceeded"));
      return;
    }
    if (!walker_.has_value()) {
      absl::StatusOr<fileservice::TreeWalker> walker =
          core_->StartWalk(*request_);
      if (!walker.ok()) {
        Finish(walker.status());
        return;
      }
      walker_.emplace(*std::move(walker));
    }
    const fileservice::FileServiceOptions& options = core_->options();
    response_.Clear();
    absl::StatusOr<bool> more = walker_->NextBatch(
        std::max<std::size_t>(options.walk_batch_entries, 1),
        std::max<std::size_t>(options.walk_batch_bytes, 1), &response_);
    if (!more.ok()) {
      Finish(more.status());
      return;
    }
    walk_complete_ = !*more;
    // An empty tree, or a last batch that found nothing new.
    if (response_.entries_size() == 0) {
      Finish(absl::OkStatus());
      return;
    }
    StartWrite(response_);
  }

  const v1::WalkTreeRequest* const request_;
  const fileservice::FileServiceCore* const core_;
  base::BlockingExecutor* const executor_;
  // Touched only by the step alive (see the class comment).
  std::optional<fileservice::TreeWalker> walker_;
  v1::WalkTreeResponse response_;
  bool walk_complete_ = false;
};

// One EchoStream call: read, answer, read again. One read or one write is
// outstanding at any time, never both, so the callbacks never overlap and
// `request_`/`response_` need no lock.
class EchoStreamReactor final
    : public rpc::ServerBidiReactor<v1::EchoRequest, v1::EchoResponse> {
 public:
  EchoStreamReactor(rpc::ServerStream* stream,
                    const fileservice::FileServiceCore* core)
      : ServerBidiReactor(stream), core_(core) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // Half-closed (or the call ended: the status is dropped).
      Finish(absl::OkStatus());
      return;
    }
    if (absl::Status echoed = core_->Echo(request_, &response_);
        !echoed.ok()) {
      Finish(echoed);
      return;
    }
    StartWrite(response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(absl::CancelledError("call ended"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const fileservice::FileServiceCore* const core_;
  v1::EchoRequest request_;
  v1::EchoResponse response_;
};

}  // namespace


void FileServiceImpl::Echo(rpc::ServerCallContext* /*context*/,
                           const v1::EchoRequest* request,
                           v1::EchoResponse* response, rpc::UnaryDone done) {
  std::move(done)(core_->Echo(*request, response));
}

void FileServiceImpl::ListDirectory(rpc::ServerCallContext* context,
                                    const v1::ListDirectoryRequest* request,
                                    v1::ListDirectoryResponse* response,
                                    rpc::UnaryDone done) {
  // `done` must run exactly once whether or not the executor takes the
  // task, so it is shared between the task and the refusal path.
  auto shared_done = std::make_shared<rpc::UnaryDone>(std::move(done));
  absl::Status submitted = executor_->Submit(
      context->peer(), [this, context, request, response, shared_done]() {
        if (context->IsCancelled()) {
          std::move (*shared_done)(absl::CancelledError("call cancelled"));
          return;
        }
        std::move (*shared_done)(core_->ListDirectory(*request, response));
      });
  if (!submitted.ok()) std::move (*shared_done)(submitted);
}

rpc::ServerWriteReactor<v1::WalkTreeResponse>* FileServiceImpl::WalkTree(
    rpc::ServerStream* stream, const v1::WalkTreeRequest* request) {
  return new WalkTreeReactor(stream, request, core_, executor_);
}

rpc::ServerBidiReactor<v1::EchoRequest, v1::EchoResponse>*
FileServiceImpl::EchoStream(rpc::ServerStream* stream) {
  return new EchoStreamReactor(stream, core_);
}

}  // namespace dualrpc::service
