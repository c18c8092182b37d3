#include "dualrpc/cli/stream_call.h"

#include <utility>

namespace dualrpc::cli {

StreamCall::StreamCall(rpc::Channel& channel, absl::string_view method,
                       rpc::MethodKind kind, const rpc::CallOptions& options) {
  rpc::ClientStream* stream = channel.NewStream(method, kind, options, this);
  {
    absl::MutexLock lock(&mu_);
    stream_ = stream;
  }
  // Not under mu_: a call that cannot begin ends inside Start (OnDone).
  stream->Start();
}

StreamCall::~StreamCall() {
  Cancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
}

bool StreamCall::Write(const google::protobuf::MessageLite& request) {
  absl::MutexLock lock(&mu_);
  if (done_ || !write_ok_) return false;
  write_pending_ = true;
  stream_->StartWrite(request);
  mu_.Await(absl::Condition(
      +[](bool* pending) { return !*pending; }, &write_pending_));
  return write_ok_;
}

bool StreamCall::WritesDone() {
  absl::MutexLock lock(&mu_);
  if (done_ || !write_ok_) return false;
  write_pending_ = true;
  stream_->StartWritesDone();
  mu_.Await(absl::Condition(
      +[](bool* pending) { return !*pending; }, &write_pending_));
  return write_ok_;
}

bool StreamCall::Read(google::protobuf::MessageLite* response) {
  absl::MutexLock lock(&mu_);
  if (done_) return false;
  read_pending_ = true;
  stream_->StartRead(response);
  mu_.Await(absl::Condition(
      +[](bool* pending) { return !*pending; }, &read_pending_));
  return read_ok_;
}

void StreamCall::Cancel() {
  absl::MutexLock lock(&mu_);
  if (!done_) stream_->Cancel();
}

absl::Status StreamCall::Finish() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return status_;
}

void StreamCall::OnReadDone(bool ok) {
  absl::MutexLock lock(&mu_);
  read_ok_ = ok;
  read_pending_ = false;
}

void StreamCall::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  write_ok_ = write_ok_ && ok;
  write_pending_ = false;
}

void StreamCall::OnWritesDoneDone(bool ok) { OnWriteDone(ok); }

void StreamCall::OnDone(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  status_ = status;
  done_ = true;
  stream_ = nullptr;
  // An operation started while the transport was already on its way here
  // (it decided on OnDone before the Start* reached it) never completes.
  // (Results already delivered stand: their waiters may not have woken.)
  if (std::exchange(read_pending_, false)) read_ok_ = false;
  if (std::exchange(write_pending_, false)) write_ok_ = false;
}

}  // namespace dualrpc::cli
