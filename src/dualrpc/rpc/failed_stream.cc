#include <utility>

#include "dualrpc/rpc/channel.h"

namespace dualrpc::rpc {
namespace {

// See NewFailedStream. Used by one thread at a time: the caller's, until
// Start, which ends it.
class FailedStream final : public ClientStream {
 public:
  FailedStream(ClientStreamReactor* reactor, absl::Status status)
      : reactor_(reactor), status_(std::move(status)) {}

  void Start() override {
    // Each completion may start another operation; complete those too.
    while (read_ || write_ || writes_done_) {
      if (std::exchange(read_, false)) reactor_->OnReadDone(false);
      if (std::exchange(write_, false)) reactor_->OnWriteDone(false);
      if (std::exchange(writes_done_, false)) {
        reactor_->OnWritesDoneDone(false);
      }
    }
    ClientStreamReactor* reactor = reactor_;
    absl::Status status = std::move(status_);
    delete this;
    reactor->OnDone(status);
  }
  void StartRead(google::protobuf::MessageLite*) override { read_ = true; }
  void StartWrite(const google::protobuf::MessageLite&) override {
    write_ = true;
  }
  void StartWritesDone() override { writes_done_ = true; }
  void Cancel() override {}

 private:
  ~FailedStream() = default;

  ClientStreamReactor* const reactor_;
  absl::Status status_;
  bool read_ = false;
  bool write_ = false;
  bool writes_done_ = false;
};

}  // namespace

ClientStream* NewFailedStream(ClientStreamReactor* reactor,
                              absl::Status status) {
  if (status.ok())
    status = absl::InternalError("stream failed without a status");
  return new FailedStream(reactor, std::move(status));
}

}  // namespace dualrpc::rpc
