#include "dualrpc/rpc/blocking_stream.h"

#include <utility>

namespace dualrpc::rpc::internal {

BlockingStreamCore::~BlockingStreamCore() {
  Cancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
}

void BlockingStreamCore::Begin(Channel& channel, absl::string_view method,
                               MethodKind kind, const CallOptions& options,
                               const google::protobuf::MessageLite* first_write,
                               google::protobuf::MessageLite* first_read) {
  // No callback runs before Start, so nothing here races with one.
  ClientStream* stream = channel.NewStream(method, kind, options, this);
  {
    absl::MutexLock lock(&mu_);
    stream_ = stream;
    if (first_write != nullptr) {
      write_outstanding_ = true;
      // The one request also half-closes (stream.h).
      writes_ended_ = true;
      writes_done_started_ = true;
    }
    if (first_read != nullptr) read_outstanding_ = true;
  }
  if (first_write != nullptr) stream->StartWrite(*first_write);
  if (first_read != nullptr) stream->StartRead(first_read);
  // A call that cannot begin may run OnDone in here, and free the stream.
  stream->Start();
}

template <typename Op>
bool BlockingStreamCore::CallStream(Op op) {
  ClientStream* stream;
  {
    absl::MutexLock lock(&mu_);
    if (stream_ == nullptr) return false;  // the call ended
    stream = stream_;
    ++calls_in_stream_;
  }
  op(stream);
  absl::MutexLock lock(&mu_);
  --calls_in_stream_;
  return true;
}

bool BlockingStreamCore::Read(google::protobuf::MessageLite* response) {
  {
    absl::MutexLock lock(&mu_);
    if (reads_ended_ || done_) return false;
    read_outstanding_ = true;
  }
  if (!CallStream([response](ClientStream* s) { s->StartRead(response); })) {
    absl::MutexLock lock(&mu_);
    read_outstanding_ = false;
    reads_ended_ = true;
    return false;
  }
  absl::MutexLock lock(&mu_);
  auto read_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !read_outstanding_;
  };
  mu_.Await(absl::Condition(&read_done));
  if (!read_ok_) reads_ended_ = true;
  return read_ok_;
}

bool BlockingStreamCore::Write(const google::protobuf::MessageLite& request) {
  {
    absl::MutexLock lock(&mu_);
    if (writes_ended_ || done_) return false;
    write_outstanding_ = true;
  }
  if (!CallStream([&request](ClientStream* s) { s->StartWrite(request); })) {
    absl::MutexLock lock(&mu_);
    write_outstanding_ = false;
    writes_ended_ = true;
    return false;
  }
  absl::MutexLock lock(&mu_);
  auto write_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !write_outstanding_;
  };
  mu_.Await(absl::Condition(&write_done));
  if (!write_ok_) writes_ended_ = true;
  return write_ok_;
}

bool BlockingStreamCore::WritesDone() {
  {
    absl::MutexLock lock(&mu_);
    if (writes_done_started_) return false;
    // A write still outstanding (another thread's) must complete first.
    auto no_write = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !write_outstanding_;
    };
    mu_.Await(absl::Condition(&no_write));
    if (writes_done_started_ || done_) return false;
    writes_done_started_ = true;
    writes_ended_ = true;
    writes_done_outstanding_ = true;
  }
  if (!CallStream([](ClientStream* s) { s->StartWritesDone(); })) {
    absl::MutexLock lock(&mu_);
    writes_done_outstanding_ = false;
    return false;
  }
  absl::MutexLock lock(&mu_);
  auto half_closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !writes_done_outstanding_;
  };
  mu_.Await(absl::Condition(&half_closed));
  return writes_done_ok_;
}

absl::Status BlockingStreamCore::Finish(bool half_close,
                                        google::protobuf::MessageLite* drain) {
  if (half_close) WritesDone();
  if (drain != nullptr) {
    while (Read(drain)) {
    }
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return status_;
}

void BlockingStreamCore::Cancel() {
  CallStream([](ClientStream* s) { s->Cancel(); });
}

void BlockingStreamCore::OnReadDone(bool ok) {
  absl::MutexLock lock(&mu_);
  read_ok_ = ok;
  read_outstanding_ = false;
}

void BlockingStreamCore::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  write_ok_ = ok;
  write_outstanding_ = false;
}

void BlockingStreamCore::OnWritesDoneDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writes_done_ok_ = ok;
  writes_done_outstanding_ = false;
}

void BlockingStreamCore::OnDone(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  status_ = status;
  // No new calls into the stream; it is valid until this returns, so let
  // those in progress finish.
  stream_ = nullptr;
  auto no_calls = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return calls_in_stream_ == 0;
  };
  mu_.Await(absl::Condition(&no_calls));
  // An operation started while the call was ending may never complete
  // (the transport had already decided to end it): it failed.
  if (read_outstanding_) read_ok_ = false;
  if (write_outstanding_) write_ok_ = false;
  if (writes_done_outstanding_) writes_done_ok_ = false;
  read_outstanding_ = write_outstanding_ = writes_done_outstanding_ = false;
  done_ = true;
}

}  // namespace dualrpc::rpc::internal
