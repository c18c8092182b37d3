#include "dualrpc_contender.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/v1/file_service.dualrpc.h"

namespace dualrpc::bench {
namespace {

// Where an operation reports its outcome. An interface rather than a
// callable so that the harness adds no allocation of its own per call: the
// generated client's callback below captures two pointers, which fit in an
// AnyInvocable's inline storage, and Echo fills a response message owned
// here (one per caller, reused).
class OperationDone {
 public:
  virtual ~OperationDone() = default;
  // Runs once per Start, on a transport thread, with OK or what went wrong.
  virtual void OnDone(absl::Status status) = 0;
  // Where an Echo's response goes: one message per caller, reused call
  // after call (the generated client's caller-supplied-response form).
  v1::EchoResponse* echo_response() { return &echo_response_; }

 private:
  v1::EchoResponse echo_response_;
};

// One unit of measured work. Start is thread-safe; `done` must stay valid
// until its OnDone has run.
class Operation {
 public:
  virtual ~Operation() = default;
  virtual void Start(OperationDone* done) = 0;
};

class EchoOperation final : public Operation {
 public:
  EchoOperation(v1::FileServiceClient* client, const rpc::CallOptions* options,
                int payload_bytes)
      : client_(client), options_(options) {
    request_.set_payload(std::string(payload_bytes, 'x'));
  }

  void Start(OperationDone* done) override {
    // The request is serialized before EchoAsync returns: one request
    // serves every caller.
    v1::EchoResponse* const response = done->echo_response();
    client_->EchoAsync(
        request_, response, *options_,
        // Two pointers: stored inline in the AnyInvocable, no allocation.
        [this, done](absl::Status status) {
          const std::size_t expected = request_.payload().size();
          const std::size_t echoed = done->echo_response()->payload().size();
          if (status.ok() && echoed != expected) {
            status = absl::DataLossError(
                absl::StrCat("echoed ", echoed, " bytes of ", expected));
          }
          done->OnDone(std::move(status));
        });
  }

 private:
  v1::FileServiceClient* const client_;
  const rpc::CallOptions* const options_;
  v1::EchoRequest request_;
};

// A whole listing: every page, in sequence.
class ListOperation final : public Operation {
 public:
  ListOperation(v1::FileServiceClient* client, const rpc::CallOptions* options,
                const Workload& workload)
      : client_(client),
        options_(options),
        path_(workload.list_path),
        page_size_(workload.page_size),
        entries_(workload.entries) {}

  void Start(OperationDone* done) override { NextPage(std::string(), 0, done); }

 private:
  void NextPage(std::string page_token, int64_t seen, OperationDone* done) {
    v1::ListDirectoryRequest request;
    request.set_path(path_);
    request.set_page_size(page_size_);
    request.set_page_token(std::move(page_token));
    client_->ListDirectoryAsync(
        request, *options_,
        [this, seen,
         done](absl::StatusOr<v1::ListDirectoryResponse> response) mutable {
          if (!response.ok()) {
            done->OnDone(response.status());
            return;
          }
          const int64_t total = seen + response->entries_size();
          if (!response->next_page_token().empty()) {
            NextPage(std::move(*response->mutable_next_page_token()), total,
                     done);
          } else if (total != entries_) {
            done->OnDone(absl::DataLossError(
                absl::StrCat("listed ", total, " of ", entries_, " entries")));
          } else {
            done->OnDone(absl::OkStatus());
          }
        });
  }

  v1::FileServiceClient* const client_;
  const rpc::CallOptions* const options_;
  const std::string path_;
  const int page_size_;
  const int64_t entries_;
};

constexpr char kWalkTreeMethod[] = "/dualrpc.v1.FileService/WalkTree";
constexpr char kEchoStreamMethod[] = "/dualrpc.v1.FileService/EchoStream";

// A whole WalkTree: every response read, the entries counted.
class WalkOperation final : public Operation {
 public:
  WalkOperation(rpc::Channel* channel, const rpc::CallOptions* options,
                const Workload& workload)
      : channel_(channel), options_(options), entries_(workload.entries) {
    request_.set_path(workload.list_path);
  }

  void Start(OperationDone* done) override { (new Walk(this, done))->Begin(); }

 private:
  // One walk; deletes itself in OnDone.
  class Walk final : public rpc::ClientReadReactor<v1::WalkTreeResponse> {
   public:
    Walk(WalkOperation* operation, OperationDone* done)
        : operation_(operation), done_(done) {}

    void Begin() {
      BindStream(operation_->channel_->NewStream(
          kWalkTreeMethod, rpc::MethodKind::kServerStreaming,
          *operation_->options_, this));
      stream()->StartWrite(operation_->request_);
      StartRead(&response_);
      StartCall();
    }
    void OnReadDone(bool ok) override {
      if (!ok) return;
      seen_ += response_.entries_size();
      StartRead(&response_);
    }
    void OnDone(const absl::Status& status) override {
      absl::Status result = status;
      if (result.ok() && seen_ != operation_->entries_) {
        result = absl::DataLossError(absl::StrCat(
            "walked ", seen_, " of ", operation_->entries_, " entries"));
      }
      OperationDone* const done = done_;
      delete this;
      done->OnDone(std::move(result));
    }

   private:
    WalkOperation* const operation_;
    OperationDone* const done_;
    v1::WalkTreeResponse response_;
    int64_t seen_ = 0;
  };

  rpc::Channel* const channel_;
  const rpc::CallOptions* const options_;
  const int64_t entries_;
  v1::WalkTreeRequest request_;
};

void Record(RunControl* control, int64_t since, const absl::Status& status) {
  control->RecordCall(NowNanos() - since, status.ok());
  if (!status.ok()) control->NoteError(status.ToString());
}

// A closed loop's shared state, kept alive by every caller that holds it.
struct ClosedLoop {
  ClosedLoop(Operation* operation, RunControl* control, int callers)
      : operation(operation), control(control), running_callers(callers) {}
  Operation* const operation;
  RunControl* const control;
  absl::BlockingCounter running_callers;
};

// One caller: starts its next operation from the previous one's completion,
// until the run ends; then deletes itself.
class Caller final : public OperationDone {
 public:
  explicit Caller(std::shared_ptr<ClosedLoop> loop) : loop_(std::move(loop)) {}

  void Begin() {
    start_ = NowNanos();
    loop_->operation->Start(this);
  }

  void OnDone(absl::Status status) override {
    Record(loop_->control, start_, status);
    if (status.ok() && loop_->control->running()) {
      Begin();
      return;
    }
    // The last reference may be this one: the counter stays alive until
    // DecrementCount has returned.
    std::shared_ptr<ClosedLoop> loop = std::move(loop_);
    delete this;
    loop->running_callers.DecrementCount();
  }

 private:
  std::shared_ptr<ClosedLoop> loop_;
  int64_t start_ = 0;
};

// One open-loop call, measured from its intended start.
class PacedCall final : public OperationDone {
 public:
  PacedCall(std::shared_ptr<OpenLoopPacer> pacer, RunControl* control,
            int64_t intended)
      : pacer_(std::move(pacer)), control_(control), intended_(intended) {}

  void OnDone(absl::Status status) override {
    Record(control_, intended_, status);
    std::shared_ptr<OpenLoopPacer> pacer = std::move(pacer_);
    delete this;
    pacer->CallEnded();
  }

 private:
  std::shared_ptr<OpenLoopPacer> pacer_;
  RunControl* const control_;
  const int64_t intended_;
};

// What the streams of one run share; each holds a reference, and the last
// to end lets Run return.
struct StreamRun {
  StreamRun(RunControl* control, const rpc::CallOptions* options,
            int payload_bytes, int streams)
      : control(control), options(options), running_streams(streams) {
    request.set_payload(std::string(payload_bytes, 'x'));
  }
  RunControl* const control;
  const rpc::CallOptions* const options;
  v1::EchoRequest request;
  absl::BlockingCounter running_streams;
};

// Ends a stream: its failure (if any) counted, then the run told.
void EndStream(std::shared_ptr<StreamRun> run, const absl::Status& status,
               bool ended_early) {
  if (!status.ok()) {
    run->control->RecordCall(0, false);
    run->control->NoteError(status.ToString());
  } else if (ended_early) {
    run->control->RecordCall(0, false);
    run->control->NoteError("the server ended the stream early");
  }
  run->running_streams.DecrementCount();
}

// One EchoStream with one message in flight: each round trip is a call.
// The next write starts once both the previous write and its echo are done
// (one write outstanding, as the stream allows). Deletes itself in OnDone.
class PingPongStream final
    : public rpc::ClientBidiReactor<v1::EchoRequest, v1::EchoResponse> {
 public:
  explicit PingPongStream(std::shared_ptr<StreamRun> run)
      : run_(std::move(run)) {}

  void Begin(rpc::Channel& channel) {
    BindStream(channel.NewStream(
        kEchoStreamMethod, rpc::MethodKind::kBidiStreaming, *run_->options,
        this));
    Round();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // The call ended: OnDone says how.
    StepDone();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      ended_early_ = !closing_;
      return;
    }
    Record(run_->control, start_,
           response_.payload().size() == run_->request.payload().size()
               ? absl::OkStatus()
               : absl::DataLossError("short echo"));
    StepDone();
  }
  void OnDone(const absl::Status& status) override {
    std::shared_ptr<StreamRun> run = std::move(run_);
    const bool ended_early = ended_early_;
    delete this;
    EndStream(std::move(run), status, ended_early);
  }

 private:
  void Round() {
    steps_left_.store(2, std::memory_order_relaxed);
    start_ = NowNanos();
    StartRead(&response_);
    StartWrite(run_->request);
  }
  // The write or the read of the round finished; the second one moves on.
  void StepDone() {
    if (steps_left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (run_->control->running()) {
      Round();
      return;
    }
    closing_ = true;
    StartWritesDone();
  }

  std::shared_ptr<StreamRun> run_;
  std::atomic<int> steps_left_{0};
  int64_t start_ = 0;
  bool closing_ = false;
  bool ended_early_ = false;
  v1::EchoResponse response_;
};

// One EchoStream written as fast as flow control allows while its echoes
// are read: each echo is a call, timed from its write. At most `depth`
// messages written and not yet echoed (see scenario.cc: above what the
// window admits). Deletes itself in OnDone.
class FloodStream final
    : public rpc::ClientBidiReactor<v1::EchoRequest, v1::EchoResponse> {
 public:
  FloodStream(std::shared_ptr<StreamRun> run, int depth)
      : run_(std::move(run)), depth_(static_cast<std::size_t>(depth)) {}

  void Begin(rpc::Channel& channel) {
    BindStream(channel.NewStream(
        kEchoStreamMethod, rpc::MethodKind::kBidiStreaming, *run_->options,
        this));
    StartRead(&response_);
    MaybeWrite();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (ok) MaybeWrite();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      ended_early_ = !closing_;
      return;
    }
    int64_t sent = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!sent_.empty()) {
        sent = sent_.front();
        sent_.pop_front();
      }
    }
    Record(run_->control, sent, absl::OkStatus());
    MaybeWrite();
    StartRead(&response_);
  }
  void OnDone(const absl::Status& status) override {
    std::shared_ptr<StreamRun> run = std::move(run_);
    bool ended_early;
    {
      absl::MutexLock lock(&mu_);
      ended_early = ended_early_;
    }
    delete this;
    EndStream(std::move(run), status, ended_early);
  }

 private:
  // Starts the next write if none is outstanding and the cap allows; once
  // the run is over, half-closes instead (the echoes still in flight are
  // read to the end of the stream).
  void MaybeWrite() {
    bool close = false;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || closing_) return;
      if (!run_->control->running()) {
        closing_ = close = true;
      } else if (sent_.size() >= depth_) {
        return;
      } else {
        writing_ = true;
        sent_.push_back(NowNanos());
      }
    }
    if (close) {
      StartWritesDone();
    } else {
      StartWrite(run_->request);
    }
  }

  std::shared_ptr<StreamRun> run_;
  const std::size_t depth_;
  v1::EchoResponse response_;
  absl::Mutex mu_;
  std::deque<int64_t> sent_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_early_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::Status DualrpcContender::Run(const Workload& workload,
                                   const LoadShape& shape,
                                   RunControl* control) {
  client::ChannelFactoryOptions options;
  options.connections = shape.connections;
  options.tls = tls_;
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target_, options);
  if (!channel.ok()) return channel.status();
  std::shared_ptr<rpc::Channel> shared_channel = *std::move(channel);
  v1::FileServiceClient client(shared_channel);
  // Calls go round-robin over the connections: one empty call each opens
  // them all before the clock starts.
  for (int i = 0; i < shape.connections; ++i) {
    absl::StatusOr<v1::EchoResponse> warm =
        client.Echo(v1::EchoRequest(), call_options_);
    if (!warm.ok()) return warm.status();
  }

  if (workload.kind == Workload::Kind::kEchoStream ||
      workload.kind == Workload::Kind::kStreamFlood) {
    if (shape.mode == LoadShape::Mode::kOpen) {
      return absl::UnimplementedError("streams run closed loops only");
    }
    // Ping-pong: one stream per caller. Flood: one per connection.
    const bool flood = workload.kind == Workload::Kind::kStreamFlood;
    const int streams = flood ? shape.connections : shape.concurrency;
    auto run =
        std::make_shared<StreamRun>(control, &call_options_,
                                    workload.payload_bytes, streams);
    control->MarkStarted();
    for (int i = 0; i < streams; ++i) {
      if (flood) {
        (new FloodStream(run, shape.in_flight_per_connection))
            ->Begin(*shared_channel);
      } else {
        (new PingPongStream(run))->Begin(*shared_channel);
      }
    }
    run->running_streams.Wait();
    return absl::OkStatus();
  }

  std::unique_ptr<Operation> operation;
  switch (workload.kind) {
    case Workload::Kind::kEcho:
      operation = std::make_unique<EchoOperation>(&client, &call_options_,
                                                  workload.payload_bytes);
      break;
    case Workload::Kind::kWalk:
      operation = std::make_unique<WalkOperation>(shared_channel.get(),
                                                  &call_options_, workload);
      break;
    default:
      operation =
          std::make_unique<ListOperation>(&client, &call_options_, workload);
      break;
  }

  if (shape.mode == LoadShape::Mode::kOpen) {
    auto pacer =
        std::make_shared<OpenLoopPacer>(shape.rate, kOpenLoopMaxInFlight);
    control->MarkStarted();
    pacer->Run(*control, [&](int64_t intended) {
      operation->Start(new PacedCall(pacer, control, intended));
    });
    return absl::OkStatus();
  }

  auto loop =
      std::make_shared<ClosedLoop>(operation.get(), control, shape.concurrency);
  control->MarkStarted();
  for (int i = 0; i < shape.concurrency; ++i) (new Caller(loop))->Begin();
  loop->running_callers.Wait();
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
