#include "dualrpc_contender.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"

namespace dualrpc::bench {
namespace {

// No deadline, no metadata: the cheapest call the API offers.
const rpc::CallOptions& NoOptions() {
  static const rpc::CallOptions* const options = new rpc::CallOptions();
  return *options;
}

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
  EchoOperation(v1::FileServiceClient* client, int payload_bytes)
      : client_(client) {
    request_.set_payload(std::string(payload_bytes, 'x'));
  }

  void Start(OperationDone* done) override {
    // The request is serialized before EchoAsync returns: one request
    // serves every caller.
    v1::EchoResponse* const response = done->echo_response();
    client_->EchoAsync(
        request_, response, NoOptions(),
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
  v1::EchoRequest request_;
};

// A whole listing: every page, in sequence.
class ListOperation final : public Operation {
 public:
  ListOperation(v1::FileServiceClient* client, const Workload& workload)
      : client_(client),
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
        request, NoOptions(),
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
  const std::string path_;
  const int page_size_;
  const int64_t entries_;
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

}  // namespace

absl::Status DualrpcContender::Run(const Workload& workload,
                                   const LoadShape& shape,
                                   RunControl* control) {
  client::ChannelFactoryOptions options;
  options.connections = shape.connections;
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target_, options);
  if (!channel.ok()) return channel.status();
  v1::FileServiceClient client(*std::move(channel));
  // Calls go round-robin over the connections: one empty call each opens
  // them all before the clock starts.
  for (int i = 0; i < shape.connections; ++i) {
    absl::StatusOr<v1::EchoResponse> warm =
        client.Echo(v1::EchoRequest(), NoOptions());
    if (!warm.ok()) return warm.status();
  }

  std::unique_ptr<Operation> operation;
  if (workload.kind == Workload::Kind::kEcho) {
    operation =
        std::make_unique<EchoOperation>(&client, workload.payload_bytes);
  } else {
    operation = std::make_unique<ListOperation>(&client, workload);
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
