// rpc/blocking_stream.h (through the generated InventoryClient, whose
// blocking and async streaming forms it also covers) against a scripted
// transport: ScriptedStream, a ClientStream that plays the server from the
// test and runs the reactor's callbacks on its own thread, keeping
// rpc/stream.h's rules (never inside the call that causes them, OnDone
// last and once, after every started operation completed). It records
// every misuse of the stream, including any call after OnDone.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/stream.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using test::v1::AddItemsRequest;
using test::v1::AddItemsResponse;
using test::v1::InventoryClient;
using test::v1::Item;

Item MakeItem(const std::string& sku, int64_t quantity) {
  Item item;
  item.mutable_key()->set_sku(sku);
  item.set_quantity(quantity);
  return item;
}

AddItemsRequest::Line MakeLine(const std::string& sku, int64_t quantity) {
  AddItemsRequest::Line line;
  line.mutable_key()->set_sku(sku);
  line.set_quantity(quantity);
  return line;
}

class ScriptedStream final : public ClientStream {
 public:
  ScriptedStream(std::string method, MethodKind kind,
                 ClientStreamReactor* reactor)
      : method_(std::move(method)),
        kind_(kind),
        reactor_(reactor),
        thread_([this] { Run(); }) {}
  ~ScriptedStream() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // ---- The server's side, for the test ----

  // One more response for StartRead.
  void PushResponse(const google::protobuf::MessageLite& response) {
    absl::MutexLock lock(&mu_);
    responses_.push_back(response.SerializeAsString());
    ServeLocked();
  }
  // Ends the call with `status` (the server finished, the deadline passed,
  // the connection was lost): the responses pushed before it can still be
  // read; other operations outstanding and later fail.
  void End(absl::Status status) {
    absl::MutexLock lock(&mu_);
    EndLocked(std::move(status));
  }
  // Once the client half-closes, push `response` (if any) and end with
  // `status`: a client-streaming server.
  void EndOnHalfClose(std::optional<std::string> response,
                      absl::Status status) {
    absl::MutexLock lock(&mu_);
    on_half_close_ = {std::move(response), std::move(status)};
    if (half_closed_) RunHalfCloseScriptLocked();
  }
  // While held, writes are recorded but not completed (a full window).
  void HoldWrites() {
    absl::MutexLock lock(&mu_);
    hold_writes_ = true;
  }

  bool WaitForDone(absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  bool WaitForWrites(std::size_t count, absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return writes_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  // Waits until a write is outstanding (held by HoldWrites).
  bool WaitForHeldWrite(absl::Duration timeout = kWaitTimeout) {
    absl::MutexLock lock(&mu_);
    auto held = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return write_pending_.has_value();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
  }
  template <typename Request>
  std::vector<Request> Writes() const {
    absl::MutexLock lock(&mu_);
    std::vector<Request> out(writes_.size());
    for (std::size_t i = 0; i < writes_.size(); ++i) {
      out[i].ParseFromString(writes_[i]);
    }
    return out;
  }
  bool half_closed() const {
    absl::MutexLock lock(&mu_);
    return half_closed_;
  }
  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  int done_count() const {
    absl::MutexLock lock(&mu_);
    return done_count_;
  }
  std::vector<std::string> misuses() const {
    absl::MutexLock lock(&mu_);
    return misuses_;
  }
  const std::string& method() const { return method_; }
  MethodKind kind() const { return kind_; }

  // ---- ClientStream ----

  void Start() override {
    absl::MutexLock lock(&mu_);
    CheckUsableLocked("Start");
    if (started_) misuses_.push_back("Start twice");
    started_ = true;
    ServeLocked();
  }
  void StartRead(google::protobuf::MessageLite* response) override {
    absl::MutexLock lock(&mu_);
    CheckUsableLocked("StartRead");
    if (read_target_ != nullptr) misuses_.push_back("two reads outstanding");
    read_target_ = response;
    ServeLocked();
  }
  void StartWrite(const google::protobuf::MessageLite& request) override {
    std::string bytes = request.SerializeAsString();
    absl::MutexLock lock(&mu_);
    CheckUsableLocked("StartWrite");
    if (write_pending_.has_value()) {
      misuses_.push_back("two writes outstanding");
    }
    if (half_closed_) misuses_.push_back("write after the half-close");
    write_pending_ = std::move(bytes);
    ServeLocked();
  }
  void StartWritesDone() override {
    absl::MutexLock lock(&mu_);
    CheckUsableLocked("StartWritesDone");
    if (write_pending_.has_value()) {
      misuses_.push_back("WritesDone with a write outstanding");
    }
    writes_done_pending_ = true;
    ServeLocked();
  }
  void Cancel() override {
    absl::MutexLock lock(&mu_);
    CheckUsableLocked("Cancel");
    if (ended_) return;
    cancelled_ = true;
    EndLocked(absl::CancelledError("cancelled by the client"));
  }

 private:
  // The stream is valid until OnDone returns. An operation started while
  // OnDone is already on its way is dropped (a transport may not complete
  // it); the reactor must not wait for it.
  void CheckUsableLocked(const char* what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_) misuses_.push_back(std::string(what) + " after OnDone");
  }

  void EndLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ended_) return;
    ended_ = true;
    status_ = std::move(status);
    ServeLocked();
  }

  void RunHalfCloseScriptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!on_half_close_.has_value()) return;
    auto [response, status] = *std::exchange(on_half_close_, std::nullopt);
    if (response.has_value()) responses_.push_back(std::move(*response));
    EndLocked(std::move(status));
  }

  // Completes what can be completed, in the order a transport would; then
  // OnDone once the call ended and nothing is outstanding.
  void ServeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || done_queued_) return;
    if (write_pending_.has_value() && (ended_ || !hold_writes_)) {
      const bool ok = !ended_;
      if (ok) writes_.push_back(std::move(*write_pending_));
      write_pending_.reset();
      // The one request of a server-streaming call half-closes.
      if (ok && kind_ == MethodKind::kServerStreaming) half_closed_ = true;
      Queue([this, ok] { reactor_->OnWriteDone(ok); });
    }
    if (writes_done_pending_) {
      writes_done_pending_ = false;
      const bool ok = !ended_;
      if (ok) half_closed_ = true;
      Queue([this, ok] { reactor_->OnWritesDoneDone(ok); });
      if (ok) RunHalfCloseScriptLocked();
    }
    if (read_target_ != nullptr && !responses_.empty() && !cancelled_) {
      google::protobuf::MessageLite* target =
          std::exchange(read_target_, nullptr);
      std::string bytes = std::move(responses_.front());
      responses_.pop_front();
      Queue([this, target, bytes = std::move(bytes)] {
        reactor_->OnReadDone(target->ParseFromString(bytes));
      });
    } else if (read_target_ != nullptr && ended_) {
      read_target_ = nullptr;
      Queue([this] { reactor_->OnReadDone(false); });
    }
    // A completion counts as outstanding until its callback returned (it
    // may start the next operation), as in grpc++.
    // The status arrives behind the responses sent before it: they are
    // read first, unless the client cancelled.
    if (ended_ && !done_queued_ && read_target_ == nullptr &&
        (responses_.empty() || cancelled_) &&
        !write_pending_.has_value() && !writes_done_pending_ &&
        callbacks_queued_ == 0) {
      done_queued_ = true;
      Queue([this, status = status_] {
        reactor_->OnDone(status);
        absl::MutexLock lock(&mu_);
        ++done_count_;
        done_ = true;
      });
    }
  }

  void Queue(std::function<void()> task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++callbacks_queued_;
    tasks_.push_back(std::move(task));
  }

  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !tasks_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      absl::MutexLock lock(&mu_);
      --callbacks_queued_;
      ServeLocked();
    }
  }

  const std::string method_;
  const MethodKind kind_;
  ClientStreamReactor* const reactor_;

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  // Callbacks queued or running.
  int callbacks_queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> responses_ ABSL_GUARDED_BY(mu_);
  google::protobuf::MessageLite* read_target_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::optional<std::string> write_pending_ ABSL_GUARDED_BY(mu_);
  bool writes_done_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_writes_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> writes_ ABSL_GUARDED_BY(mu_);
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::pair<std::optional<std::string>, absl::Status>>
      on_half_close_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int done_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> misuses_ ABSL_GUARDED_BY(mu_);
  // Last: starts after every other member is ready.
  std::thread thread_;
};

// A Channel whose streams are ScriptedStreams, kept (not freed at OnDone)
// so that the test can inspect them afterwards and catch late calls.
class ScriptedChannel final : public Channel {
 public:
  void StartUnaryCall(absl::string_view, const google::protobuf::MessageLite&,
                      google::protobuf::MessageLite*, const CallOptions&,
                      UnaryDone done) override {
    std::move(done)(absl::UnimplementedError("streams only"));
  }
  ClientStream* NewStream(absl::string_view method, MethodKind kind,
                          const CallOptions&,
                          ClientStreamReactor* reactor) override {
    absl::MutexLock lock(&mu_);
    streams_.push_back(
        std::make_unique<ScriptedStream>(std::string(method), kind, reactor));
    return streams_.back().get();
  }
  ScriptedStream& last() {
    absl::MutexLock lock(&mu_);
    return *streams_.back();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<ScriptedStream>> streams_ ABSL_GUARDED_BY(mu_);
};

// Runs `action` on a thread of its own; false if it has not returned
// within kWaitTimeout (the thread is then left behind: the test has failed).
bool ReturnsInTime(std::function<void()> action) {
  auto returned = std::make_shared<absl::Notification>();
  std::thread thread([action = std::move(action), returned] {
    action();
    returned->Notify();
  });
  if (!returned->WaitForNotificationWithTimeout(kWaitTimeout)) {
    thread.detach();
    return false;
  }
  thread.join();
  return true;
}

class BlockingStreamTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // The channel outlives the helpers (members are destroyed in reverse).
    for (ScriptedStream* stream : inspected_) {
      EXPECT_THAT(stream->misuses(), IsEmpty());
      EXPECT_LE(stream->done_count(), 1);
    }
  }
  ScriptedStream& Stream() {
    inspected_.push_back(&channel_->last());
    return channel_->last();
  }

  std::shared_ptr<ScriptedChannel> channel_ =
      std::make_shared<ScriptedChannel>();
  InventoryClient client_{channel_};
  std::vector<ScriptedStream*> inspected_;
};

TEST_F(BlockingStreamTest, ReaderReadsToTheEndThenFinishes) {
  std::unique_ptr<ClientReader<Item>> reader =
      client_.WatchItems(google::protobuf::Empty());
  ScriptedStream& stream = Stream();
  EXPECT_EQ(stream.method(), InventoryClient::kWatchItemsMethod);
  EXPECT_EQ(stream.kind(), MethodKind::kServerStreaming);
  stream.PushResponse(MakeItem("a", 1));
  stream.PushResponse(MakeItem("b", 2));
  stream.End(absl::OkStatus());

  Item item;
  std::vector<std::string> skus;
  while (reader->Read(&item)) skus.push_back(item.key().sku());
  EXPECT_THAT(skus, ElementsAre("a", "b"));
  EXPECT_FALSE(reader->Read(&item));  // stays at the end
  EXPECT_THAT(reader->Finish(), IsOk());
  // The one request went out and half-closed.
  EXPECT_EQ(stream.Writes<google::protobuf::Empty>().size(), 1u);
  EXPECT_TRUE(stream.half_closed());
}

TEST_F(BlockingStreamTest, ReaderFinishReportsTheErrorAfterSomeMessages) {
  std::unique_ptr<ClientReader<Item>> reader =
      client_.WatchItems(google::protobuf::Empty());
  ScriptedStream& stream = Stream();
  stream.PushResponse(MakeItem("a", 1));
  stream.End(absl::DataLossError("disk gone"));
  Item item;
  ASSERT_TRUE(reader->Read(&item));
  EXPECT_EQ(item.key().sku(), "a");
  EXPECT_FALSE(reader->Read(&item));
  EXPECT_THAT(reader->Finish(),
              StatusIs(absl::StatusCode::kDataLoss, "disk gone"));
}

// Finish without reading to the end drops what is left, then reports.
TEST_F(BlockingStreamTest, ReaderFinishDrainsUnreadResponses) {
  std::unique_ptr<ClientReader<Item>> reader =
      client_.WatchItems(google::protobuf::Empty());
  ScriptedStream& stream = Stream();
  stream.PushResponse(MakeItem("a", 1));
  stream.PushResponse(MakeItem("b", 2));
  stream.End(absl::OkStatus());
  EXPECT_THAT(reader->Finish(), IsOk());
}

TEST_F(BlockingStreamTest, CancelEndsAReadThatWouldWaitForever) {
  std::unique_ptr<ClientReader<Item>> reader =
      client_.WatchItems(google::protobuf::Empty());
  ScriptedStream& stream = Stream();
  absl::Notification reading;
  std::thread canceller([&] {
    // Cancel from another thread while the test thread waits in Read.
    reading.WaitForNotification();
    reader->Cancel();
  });
  Item item;
  reading.Notify();
  EXPECT_FALSE(reader->Read(&item));
  canceller.join();
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(stream.cancelled());
  reader->Cancel();  // after the end: nothing, and no call into the stream
}

TEST_F(BlockingStreamTest, WriterHalfClosesInFinishAndFillsTheResponse) {
  AddItemsResponse response;
  std::unique_ptr<ClientWriter<AddItemsRequest::Line>> writer =
      client_.RestockItems(&response);
  ScriptedStream& stream = Stream();
  EXPECT_EQ(stream.kind(), MethodKind::kClientStreaming);
  AddItemsResponse answer;
  *answer.add_items() = MakeItem("a", 5);
  stream.EndOnHalfClose(answer.SerializeAsString(), absl::OkStatus());

  EXPECT_TRUE(writer->Write(MakeLine("a", 2)));
  EXPECT_TRUE(writer->Write(MakeLine("a", 3)));
  EXPECT_FALSE(stream.half_closed());
  EXPECT_THAT(writer->Finish(), IsOk());
  EXPECT_TRUE(stream.half_closed());
  ASSERT_EQ(response.items_size(), 1);
  EXPECT_EQ(response.items(0).quantity(), 5);
  std::vector<AddItemsRequest::Line> lines =
      stream.Writes<AddItemsRequest::Line>();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].quantity(), 3);
}

TEST_F(BlockingStreamTest, WriteAfterTheCallEndedFails) {
  AddItemsResponse response;
  std::unique_ptr<ClientWriter<AddItemsRequest::Line>> writer =
      client_.RestockItems(&response);
  ScriptedStream& stream = Stream();
  EXPECT_TRUE(writer->Write(MakeLine("a", 1)));
  stream.End(absl::InvalidArgumentError("quantity 0 for b is below 1"));
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_FALSE(writer->Write(MakeLine("b", 0)));
  EXPECT_FALSE(writer->WritesDone());
  EXPECT_THAT(writer->Finish(),
              StatusIs(absl::StatusCode::kInvalidArgument, "quantity 0 for b "
                                                           "is below 1"));
  EXPECT_EQ(stream.Writes<AddItemsRequest::Line>().size(), 1u);
}

// A write waiting for flow control completes (with false) when the call
// ends: the deadline passing mid-stream, say.
TEST_F(BlockingStreamTest, WriteWaitingForTheWindowFailsWhenTheCallEnds) {
  AddItemsResponse response;
  std::unique_ptr<ClientWriter<AddItemsRequest::Line>> writer =
      client_.RestockItems(&response);
  ScriptedStream& stream = Stream();
  stream.HoldWrites();
  std::thread deadline([&] {
    EXPECT_TRUE(stream.WaitForHeldWrite());
    stream.End(absl::DeadlineExceededError("deadline"));
  });
  EXPECT_FALSE(writer->Write(MakeLine("a", 1)));
  deadline.join();
  EXPECT_THAT(writer->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(BlockingStreamTest, ReaderWriterInterleavesAndFinishes) {
  std::unique_ptr<ClientReaderWriter<Item::Key, Item>> stream_rw =
      client_.LookupItems();
  ScriptedStream& stream = Stream();
  EXPECT_EQ(stream.kind(), MethodKind::kBidiStreaming);
  Item::Key key;
  key.set_sku("a");
  ASSERT_TRUE(stream_rw->Write(key));
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.PushResponse(MakeItem("a", 7));
  Item item;
  ASSERT_TRUE(stream_rw->Read(&item));
  EXPECT_EQ(item.quantity(), 7);
  EXPECT_TRUE(stream_rw->WritesDone());
  EXPECT_FALSE(stream_rw->Write(key));  // after the half-close
  EXPECT_FALSE(stream_rw->WritesDone());
  stream.End(absl::OkStatus());
  EXPECT_FALSE(stream_rw->Read(&item));
  EXPECT_THAT(stream_rw->Finish(), IsOk());
  EXPECT_EQ(stream.Writes<Item::Key>().size(), 1u);
}

// Destroying a helper whose call is still open cancels it and returns once
// the transport ended it (no hang, no callback into a freed reactor: the
// stream records any call after OnDone, and LSan any leak).
TEST_F(BlockingStreamTest, DestructionWithoutFinishCancelsAndReturns) {
  auto reader = client_.WatchItems(google::protobuf::Empty());
  ScriptedStream& reading = Stream();
  AddItemsResponse response;
  auto writer = client_.RestockItems(&response);
  ScriptedStream& writing = Stream();
  auto both = client_.LookupItems();
  ScriptedStream& bidi = Stream();
  bidi.HoldWrites();
  Item::Key key;
  std::thread blocked_writer([&] { EXPECT_FALSE(both->Write(key)); });
  ASSERT_TRUE(bidi.WaitForHeldWrite());
  both->Cancel();
  blocked_writer.join();

  EXPECT_TRUE(ReturnsInTime([&] { reader.reset(); }));
  EXPECT_TRUE(ReturnsInTime([&] { writer.reset(); }));
  EXPECT_TRUE(ReturnsInTime([&] { both.reset(); }));
  for (ScriptedStream* stream : {&reading, &writing, &bidi}) {
    EXPECT_TRUE(stream->cancelled());
    EXPECT_EQ(stream->done_count(), 1);
  }
}

// A call the channel cannot make (NewFailedStream, OnDone inside Start).
TEST(BlockingStreamFailedTest, ReportsTheChannelsStatus) {
  class FailingChannel final : public Channel {
   public:
    void StartUnaryCall(absl::string_view, const google::protobuf::MessageLite&,
                        google::protobuf::MessageLite*, const CallOptions&,
                        UnaryDone done) override {
      std::move(done)(absl::UnavailableError("down"));
    }
    ClientStream* NewStream(absl::string_view, MethodKind, const CallOptions&,
                            ClientStreamReactor* reactor) override {
      return NewFailedStream(reactor, absl::UnavailableError("down"));
    }
  };
  InventoryClient client(std::make_shared<FailingChannel>());
  auto reader = client.WatchItems(google::protobuf::Empty());
  Item item;
  EXPECT_FALSE(reader->Read(&item));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kUnavailable));
  AddItemsResponse response;
  auto writer = client.RestockItems(&response);
  EXPECT_FALSE(writer->Write(MakeLine("a", 1)));
  EXPECT_THAT(writer->Finish(), StatusIs(absl::StatusCode::kUnavailable));
  auto both = client.LookupItems();
  EXPECT_FALSE(both->Write(Item::Key()));
  EXPECT_THAT(both->Finish(), StatusIs(absl::StatusCode::kUnavailable));
}

// The async forms bind the reactor and queue the kind's first operation.
TEST_F(BlockingStreamTest, AsyncFormsBindTheReactor) {
  class Watcher final : public ClientReadReactor<Item> {
   public:
    void OnReadDone(bool ok) override {
      if (!ok) return;
      skus.push_back(item.key().sku());
      StartRead(&item);
    }
    void OnDone(const absl::Status& s) override {
      status = s;
      done.Notify();
    }
    Item item;
    std::vector<std::string> skus;
    absl::Status status;
    absl::Notification done;
  };
  Watcher watcher;
  client_.WatchItemsAsync(google::protobuf::Empty(), {}, &watcher);
  ScriptedStream& stream = Stream();
  watcher.StartRead(&watcher.item);
  watcher.StartCall();
  stream.PushResponse(MakeItem("x", 1));
  stream.PushResponse(MakeItem("y", 2));
  stream.End(absl::OkStatus());
  ASSERT_TRUE(watcher.done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(watcher.status, IsOk());
  EXPECT_THAT(watcher.skus, ElementsAre("x", "y"));
  EXPECT_EQ(stream.Writes<google::protobuf::Empty>().size(), 1u);

  class Restocker final : public ClientWriteReactor<AddItemsRequest::Line> {
   public:
    void OnWriteDone(bool ok) override {
      if (ok) StartWritesDone();
    }
    void OnDone(const absl::Status& s) override {
      status = s;
      done.Notify();
    }
    absl::Status status;
    absl::Notification done;
  };
  Restocker restocker;
  AddItemsResponse response;
  client_.RestockItemsAsync({}, &response, &restocker);
  ScriptedStream& restock = Stream();
  AddItemsResponse answer;
  *answer.add_items() = MakeItem("r", 3);
  restock.EndOnHalfClose(answer.SerializeAsString(), absl::OkStatus());
  restocker.StartWrite(MakeLine("r", 3));
  restocker.StartCall();
  ASSERT_TRUE(restocker.done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(restocker.status, IsOk());
  ASSERT_EQ(response.items_size(), 1);
  EXPECT_EQ(response.items(0).key().sku(), "r");
}

}  // namespace
}  // namespace dualrpc::rpc
