// Streaming calls over gRPC on their own terms: hand-written server reactors
// registered as rpc::Methods, served by GrpcServer (MakeGrpcServices) on a
// real loopback socket, called through GrpcChannel::NewStream with
// hand-written client reactors; and the same server called by a third-party
// client (node's @grpc/grpc-js).

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/rpc/stream.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/wait.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::Eventually;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::BytesValue;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr char kSum[] = "/dualrpc.testing.Streams/Sum";
constexpr char kSplit[] = "/dualrpc.testing.Streams/Split";
constexpr char kEcho[] = "/dualrpc.testing.Streams/Echo";
constexpr char kSilent[] = "/dualrpc.testing.Streams/Silent";
constexpr char kFlood[] = "/dualrpc.testing.Streams/Flood";
constexpr char kStalledSum[] = "/dualrpc.testing.Streams/StalledSum";
constexpr char kEarly[] = "/dualrpc.testing.Streams/Early";
constexpr char kFinishEarly[] = "/dualrpc.testing.Streams/FinishEarly";
constexpr char kBadTrailer[] = "/dualrpc.testing.Streams/BadTrailer";

// Large enough, in total, to exceed every HTTP/2 window and socket buffer
// between the two ends, so that a peer which does not read stalls the other.
constexpr int kFloodMessages = 128;
constexpr size_t kFloodMessageBytes = 256 * 1024;
// How long a stalled stream is watched for progress it must not make.
constexpr absl::Duration kStallWatch = absl::Milliseconds(500);

BytesValue Bytes(std::string value) {
  BytesValue message;
  message.set_value(std::move(value));
  return message;
}

// What the server reactors report to the test.
struct ServerEvents {
  std::atomic<int> cancels{0};
  std::atomic<int> dones{0};
  std::atomic<int> writes_done{0};
  // Callbacks that ran before the method's start function returned.
  std::atomic<int> early_callbacks{0};
  absl::Mutex mutex;
  Metadata last_request_metadata ABSL_GUARDED_BY(mutex);
};

// Base of the test's server reactors: counts OnCancel and OnDone, deletes
// itself in OnDone.
class CountingReactor : public ServerStreamReactor {
 public:
  CountingReactor(ServerStream* stream, ServerEvents* events)
      : stream_(stream), events_(events) {
    absl::MutexLock lock(&events->mutex);
    events->last_request_metadata = stream->request_metadata();
  }
  void OnCancel() override { events_->cancels.fetch_add(1); }
  void OnDone() override {
    events_->dones.fetch_add(1);
    delete this;
  }

 protected:
  ServerStream* const stream_;
  ServerEvents* const events_;
};

// Client streaming: the response is the requests concatenated (or, with
// `first_bytes`, their first bytes); trailer "count" is their number.
class SumReactor final : public CountingReactor {
 public:
  SumReactor(ServerStream* stream, ServerEvents* events, BytesValue* response,
             bool read_now, bool first_bytes = false)
      : CountingReactor(stream, events),
        response_(response),
        first_bytes_(first_bytes) {
    if (read_now) stream_->StartRead(&request_);
  }
  // For StalledSum: starts reading (any thread).
  void StartReading() { stream_->StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      stream_->AddResponseMetadata("count", absl::StrCat(count_));
      stream_->Finish(absl::OkStatus());
      return;
    }
    ++count_;
    response_->mutable_value()->append(
        first_bytes_ ? request_.value().substr(0, 1) : request_.value());
    stream_->StartRead(&request_);
  }

 private:
  BytesValue* const response_;
  const bool first_bytes_;
  BytesValue request_;
  int count_ = 0;
};

// Server streaming: one response per byte of the request; trailer
// "seen-k" repeats request metadata "k". A request starting with '!' ends
// the call with ABORTED after the other bytes.
class SplitReactor final : public CountingReactor {
 public:
  SplitReactor(ServerStream* stream, ServerEvents* events,
               const BytesValue* request)
      : CountingReactor(stream, events), text_(request->value()) {
    if (!text_.empty() && text_[0] == '!') {
      fail_ = true;
      text_.erase(0, 1);
    }
    for (const auto& [key, value] : stream->request_metadata()) {
      if (key == "k") stream->AddResponseMetadata("seen-k", value);
    }
    WriteNext();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    WriteNext();
  }

 private:
  void WriteNext() {
    if (next_ == text_.size()) {
      stream_->Finish(fail_ ? absl::AbortedError("stopped on purpose")
                            : absl::OkStatus());
      return;
    }
    stream_->StartWrite(Bytes(std::string(1, text_[next_++])));
  }

  std::string text_;
  size_t next_ = 0;
  bool fail_ = false;
};

// Bidi: writes each request back, then reads the next; Finish(OK) with
// trailer "echoed" when the client half-closes.
class EchoReactor final : public CountingReactor {
 public:
  EchoReactor(ServerStream* stream, ServerEvents* events)
      : CountingReactor(stream, events) {
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      stream_->AddResponseMetadata("echoed", absl::StrCat(count_));
      stream_->Finish(absl::OkStatus());
      return;
    }
    ++count_;
    stream_->StartWrite(request_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    stream_->StartRead(&request_);
  }

 private:
  BytesValue request_;
  int count_ = 0;
};

// Bidi: never writes; reads until the reads end, then finishes.
class SilentReactor final : public CountingReactor {
 public:
  SilentReactor(ServerStream* stream, ServerEvents* events)
      : CountingReactor(stream, events) {
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (ok) {
      stream_->StartRead(&request_);
    } else {
      stream_->Finish(absl::OkStatus());
    }
  }

 private:
  BytesValue request_;
};

// Server streaming: writes the request's number of kFloodMessageBytes
// messages, counting each OnWriteDone in events->writes_done.
class FloodReactor final : public CountingReactor {
 public:
  FloodReactor(ServerStream* stream, ServerEvents* events,
               const BytesValue* request)
      : CountingReactor(stream, events),
        payload_(Bytes(std::string(kFloodMessageBytes, 'f'))) {
    if (!absl::SimpleAtoi(request->value(), &remaining_)) remaining_ = 0;
    WriteNext();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    events_->writes_done.fetch_add(1);
    WriteNext();
  }

 private:
  void WriteNext() {
    if (remaining_-- <= 0) {
      stream_->Finish(absl::OkStatus());
      return;
    }
    stream_->StartWrite(payload_);
  }

  const BytesValue payload_;
  int remaining_ = 0;
};

// Bidi, started with operations in flight: writes "early" and starts a read
// inside the start function; finishes once both completed. Every callback
// checks that the start function had returned by then.
class EarlyReactor final : public CountingReactor {
 public:
  EarlyReactor(ServerStream* stream, ServerEvents* events,
               const std::atomic<bool>* returned)
      : CountingReactor(stream, events), returned_(returned) {
    stream_->StartWrite(Bytes("early"));
    stream_->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    Check();
    if (ok) {
      stream_->StartRead(&request_);
      return;
    }
    OneDone();
  }
  void OnWriteDone(bool) override {
    Check();
    OneDone();
  }
  void OnDone() override {
    Check();
    CountingReactor::OnDone();
  }

 private:
  void Check() {
    if (!returned_->load()) events_->early_callbacks.fetch_add(1);
  }
  void OneDone() {
    bool finish;
    {
      absl::MutexLock lock(&mutex_);
      finish = --outstanding_ == 0;
    }
    if (finish) stream_->Finish(absl::OkStatus());
  }

  const std::atomic<bool>* const returned_;
  BytesValue request_;
  absl::Mutex mutex_;
  int outstanding_ ABSL_GUARDED_BY(mutex_) = 2;
};

// Server streaming: finishes inside the start function.
class FinishEarlyReactor final : public CountingReactor {
 public:
  FinishEarlyReactor(ServerStream* stream, ServerEvents* events,
                     const std::atomic<bool>* returned)
      : CountingReactor(stream, events), returned_(returned) {
    stream_->AddResponseMetadata("early", "yes");
    stream_->Finish(absl::FailedPreconditionError("finished at once"));
  }
  void OnDone() override {
    if (!returned_->load()) events_->early_callbacks.fetch_add(1);
    CountingReactor::OnDone();
  }

 private:
  const std::atomic<bool>* const returned_;
};

// Bidi: adds a key gRPC forbids, then finishes OK.
class BadTrailerReactor final : public CountingReactor {
 public:
  BadTrailerReactor(ServerStream* stream, ServerEvents* events)
      : CountingReactor(stream, events) {
    stream_->AddResponseMetadata("Not A Key", "x");
    stream_->Finish(absl::OkStatus());
  }
};

using StartFunction = std::function<ServerStreamReactor*(
    ServerStream*, const BytesValue* request, BytesValue* response)>;

Method StreamMethod(std::string path, MethodKind kind, StartFunction start) {
  Method method = internal::StreamingMethodShell<BytesValue, BytesValue>(
      std::move(path), kind);
  method.start_stream = [start = std::move(start)](
                            ServerStream* stream,
                            const google::protobuf::Message* request,
                            google::protobuf::Message* response) {
    return start(stream, static_cast<const BytesValue*>(request),
                 static_cast<BytesValue*>(response));
  };
  return method;
}

// A client call of BytesValue messages: writes `requests` in order (then
// half-closes, but for server streaming, whose one write does), reads every
// response while reading is on. Thread-safe.
class TestClient final : public ClientStreamReactor {
 public:
  struct Options {
    bool read = true;
    bool half_close = true;
    CallOptions call;
  };

  TestClient(Channel& channel, absl::string_view method, MethodKind kind,
             std::vector<std::string> requests, Options options)
      : kind_(kind),
        requests_(std::move(requests)),
        options_(std::move(options)) {
    options_.call.response_metadata = &trailers_;
    options_.call.response_headers = &headers_;
    stream_ = channel.NewStream(method, kind, options_.call, this);
  }
  TestClient(Channel& channel, absl::string_view method, MethodKind kind,
             std::vector<std::string> requests)
      : TestClient(channel, method, kind, std::move(requests), Options()) {}

  // Starts the call (and the first operations, before it).
  void Start() {
    if (options_.read) stream_->StartRead(&response_);
    WriteNext();
    stream_->Start();
  }
  // Starts reading (when Options::read was false).
  void StartReading() { stream_->StartRead(&response_); }
  void Cancel() { stream_->Cancel(); }

  // The call's status once OnDone ran; DEADLINE_EXCEEDED-like failure of the
  // test (an "unknown" status) if it did not within kWaitTimeout.
  absl::Status Wait() {
    if (!done_.WaitForNotificationWithTimeout(kWaitTimeout)) {
      return absl::UnknownError("the test timed out waiting for OnDone");
    }
    absl::MutexLock lock(&mutex_);
    return status_;
  }
  bool done() const { return done_.HasBeenNotified(); }
  int writes_done() const { return writes_done_.load(); }
  std::vector<std::string> responses() {
    absl::MutexLock lock(&mutex_);
    return responses_;
  }
  size_t response_count() {
    absl::MutexLock lock(&mutex_);
    return responses_.size();
  }
  // Valid once done.
  const Metadata& trailers() const { return trailers_; }
  const Metadata& headers() const { return headers_; }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mutex_);
      responses_.push_back(response_.value());
    }
    stream_->StartRead(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    writes_done_.fetch_add(1);
    WriteNext();
  }
  void OnDone(const absl::Status& status) override {
    {
      absl::MutexLock lock(&mutex_);
      status_ = status;
    }
    done_.Notify();
  }

 private:
  // The next request, or the half-close after the last.
  void WriteNext() {
    size_t index = next_write_.fetch_add(1);
    if (index < requests_.size()) {
      stream_->StartWrite(Bytes(requests_[index]));
    } else if (index == requests_.size() && options_.half_close &&
               kind_ != MethodKind::kServerStreaming) {
      stream_->StartWritesDone();
    }
  }

  const MethodKind kind_;
  const std::vector<std::string> requests_;
  Options options_;
  ClientStream* stream_ = nullptr;
  BytesValue response_;
  std::atomic<size_t> next_write_{0};
  std::atomic<int> writes_done_{0};
  Metadata trailers_;
  Metadata headers_;
  absl::Notification done_;
  absl::Mutex mutex_;
  std::vector<std::string> responses_ ABSL_GUARDED_BY(mutex_);
  absl::Status status_ ABSL_GUARDED_BY(mutex_);
};

class GrpcStreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerEvents* events = &events_;
    std::vector<Method> methods;
    methods.push_back(StreamMethod(
        kSum, MethodKind::kClientStreaming,
        [events](ServerStream* stream, const BytesValue*,
                 BytesValue* response) {
          return new SumReactor(stream, events, response, /*read_now=*/true);
        }));
    methods.push_back(StreamMethod(
        kStalledSum, MethodKind::kClientStreaming,
        [this](ServerStream* stream, const BytesValue*, BytesValue* response) {
          auto* reactor =
              new SumReactor(stream, &events_, response, /*read_now=*/false,
                             /*first_bytes=*/true);
          absl::MutexLock lock(&stalled_mutex_);
          stalled_ = reactor;
          return reactor;
        }));
    methods.push_back(StreamMethod(
        kSplit, MethodKind::kServerStreaming,
        [events](ServerStream* stream, const BytesValue* request, BytesValue*) {
          return new SplitReactor(stream, events, request);
        }));
    methods.push_back(StreamMethod(
        kFlood, MethodKind::kServerStreaming,
        [events](ServerStream* stream, const BytesValue* request, BytesValue*) {
          return new FloodReactor(stream, events, request);
        }));
    methods.push_back(StreamMethod(
        kEcho, MethodKind::kBidiStreaming,
        [events](ServerStream* stream, const BytesValue*, BytesValue*) {
          return new EchoReactor(stream, events);
        }));
    methods.push_back(StreamMethod(
        kSilent, MethodKind::kBidiStreaming,
        [events](ServerStream* stream, const BytesValue*, BytesValue*) {
          return new SilentReactor(stream, events);
        }));
    methods.push_back(StreamMethod(
        kBadTrailer, MethodKind::kBidiStreaming,
        [events](ServerStream* stream, const BytesValue*, BytesValue*) {
          return new BadTrailerReactor(stream, events);
        }));
    // `returned` is set once the reactor's start function has returned.
    methods.push_back(StreamMethod(
        kEarly, MethodKind::kBidiStreaming,
        [this](ServerStream* stream, const BytesValue*, BytesValue*) {
          early_returned_.store(false);
          ServerStreamReactor* reactor =
              new EarlyReactor(stream, &events_, &early_returned_);
          early_returned_.store(true);
          return reactor;
        }));
    methods.push_back(StreamMethod(
        kFinishEarly, MethodKind::kServerStreaming,
        [this](ServerStream* stream, const BytesValue*, BytesValue*) {
          early_returned_.store(false);
          ServerStreamReactor* reactor =
              new FinishEarlyReactor(stream, &events_, &early_returned_);
          early_returned_.store(true);
          return reactor;
        }));
    ASSERT_THAT(registry_.AddMethods(std::move(methods)), IsOk());

    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);
    ASSERT_THAT(grpc_services_, SizeIs(1));
    grpc::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
        grpc::GrpcServer::Start(options, {grpc_services_[0].get()});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::GrpcChannel> NewChannel() {
    absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
        grpc::GrpcChannel::Create(server_->address());
    EXPECT_THAT(channel, IsOk());
    return channel.ok() ? *std::move(channel) : nullptr;
  }

  SumReactor* Stalled() {
    absl::MutexLock lock(&stalled_mutex_);
    return stalled_;
  }

  ServerEvents events_;
  std::atomic<bool> early_returned_{false};
  absl::Mutex stalled_mutex_;
  SumReactor* stalled_ ABSL_GUARDED_BY(stalled_mutex_) = nullptr;
  ServiceRegistry registry_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> server_;
};

TEST_F(GrpcStreamingTest, ClientStreamingSendsTheResponseWithFinish) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient client(*channel, kSum, MethodKind::kClientStreaming,
                    {"a", "bc", "", "def"});
  client.Start();
  EXPECT_THAT(client.Wait(), IsOk());
  EXPECT_THAT(client.responses(), ElementsAre("abcdef"));
  EXPECT_THAT(client.trailers(), Contains(Pair("count", "4")));
  EXPECT_EQ(client.writes_done(), 4);
}

TEST_F(GrpcStreamingTest, ServerStreamingSendsEveryResponseInOrder) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient client(*channel, kSplit, MethodKind::kServerStreaming,
                    {"streams"});
  client.Start();
  EXPECT_THAT(client.Wait(), IsOk());
  EXPECT_THAT(client.responses(),
              ElementsAre("s", "t", "r", "e", "a", "m", "s"));
}

TEST_F(GrpcStreamingTest, BidiEchoesEachRequestInOrder) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  std::vector<std::string> requests;
  for (int i = 0; i < 50; ++i) requests.push_back(absl::StrCat("m", i));
  TestClient client(*channel, kEcho, MethodKind::kBidiStreaming, requests);
  client.Start();
  EXPECT_THAT(client.Wait(), IsOk());
  EXPECT_EQ(client.responses(), requests);
  EXPECT_THAT(client.trailers(), Contains(Pair("echoed", "50")));
  EXPECT_EQ(events_.cancels.load(), 0);
  EXPECT_TRUE(Eventually([&] { return events_.dones.load() == 1; }));
}

TEST_F(GrpcStreamingTest, MetadataGoesBothWaysAndTrailersArriveBeforeOnDone) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient::Options options;
  options.call.metadata = {{"k", "v1"}, {"other", "x"}};
  TestClient client(*channel, kSplit, MethodKind::kServerStreaming, {"ab"},
                    options);
  client.Start();
  ASSERT_THAT(client.Wait(), IsOk());
  EXPECT_THAT(client.trailers(), Contains(Pair("seen-k", "v1")));
  // Trailers only: AddResponseMetadata does not make headers.
  EXPECT_THAT(client.headers(), Not(Contains(Pair("seen-k", "v1"))));
  for (const auto& [key, value] : client.trailers()) {
    EXPECT_THAT(key, Not(::testing::StartsWith("grpc-")));
  }
  absl::MutexLock lock(&events_.mutex);
  EXPECT_THAT(events_.last_request_metadata, Contains(Pair("k", "v1")));
  EXPECT_THAT(events_.last_request_metadata, Contains(Pair("other", "x")));
}

TEST_F(GrpcStreamingTest, HeadersFallIntoResponseMetadataWithoutHeaders) {
  // With response_headers null, initial metadata and trailers share one list
  // as for unary calls; here: the trailers must still be there.
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  struct OnlyDone final : ClientStreamReactor {
    void OnDone(const absl::Status& s) override {
      status = s;
      done.Notify();
    }
    absl::Status status;
    absl::Notification done;
  } reactor;
  Metadata metadata;
  CallOptions options;
  options.response_metadata = &metadata;
  ClientStream* stream =
      channel->NewStream(kEcho, MethodKind::kBidiStreaming, options, &reactor);
  stream->StartWritesDone();
  stream->Start();
  ASSERT_TRUE(reactor.done.WaitForNotificationWithTimeout(kWaitTimeout));
  EXPECT_THAT(reactor.status, IsOk());
  EXPECT_THAT(metadata, Contains(Pair("echoed", "0")));
}

TEST_F(GrpcStreamingTest, ServerErrorAfterMessagesArrivesAfterThem) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient client(*channel, kSplit, MethodKind::kServerStreaming, {"!xyz"});
  client.Start();
  EXPECT_THAT(client.Wait(),
              StatusIs(absl::StatusCode::kAborted, "stopped on purpose"));
  EXPECT_THAT(client.responses(), ElementsAre("x", "y", "z"));
}

TEST_F(GrpcStreamingTest, ClientCancelReachesTheServersOnCancel) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient::Options options;
  options.half_close = false;
  TestClient client(*channel, kEcho, MethodKind::kBidiStreaming, {"one"},
                    options);
  client.Start();
  ASSERT_TRUE(Eventually([&] { return client.response_count() == 1; }));
  EXPECT_FALSE(client.done());
  client.Cancel();
  EXPECT_THAT(client.Wait(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(Eventually([&] { return events_.cancels.load() == 1; }));
  EXPECT_TRUE(Eventually([&] { return events_.dones.load() == 1; }));
}

// Reads started from the caller's thread while the server ends the call
// (grpc++ allows operations from outside its reactions only under a hold;
// GrpcStream takes one). Without it, a read that reached grpc++ after the
// status came in and before OnDone ran on freed memory: the soak's "pure
// virtual method called" in grpc_call_unref, a heap-use-after-free under
// ASan. Thousands of short calls, read to the end (each next read races
// the status) or cancelled after the first response, on four threads.
TEST_F(GrpcStreamingTest, ReadsRacingTheEndOfTheCallAreSafe) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        ClientReader<BytesValue> reader(*channel, kSplit, Bytes("ab"),
                                        CallOptions());
        BytesValue response;
        absl::Status status;
        if ((i + t) % 2 == 0) {
          int read = 0;
          while (reader.Read(&response)) ++read;
          status = reader.Finish();
          if (read != 2) wrong.fetch_add(1);
          if (!status.ok()) wrong.fetch_add(1);
        } else {
          reader.Read(&response);
          reader.Cancel();
          status = reader.Finish();
          if (!status.ok() && !absl::IsCancelled(status)) wrong.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(GrpcStreamingTest, DeadlineEndsTheStreamMidway) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient::Options options;
  options.half_close = false;
  options.call.timeout = absl::Milliseconds(300);
  TestClient client(*channel, kSilent, MethodKind::kBidiStreaming, {"a", "b"},
                    options);
  client.Start();
  EXPECT_THAT(client.Wait(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(client.writes_done(), 2);
  EXPECT_TRUE(Eventually([&] { return events_.cancels.load() == 1; }));
  EXPECT_TRUE(Eventually([&] { return events_.dones.load() == 1; }));
}

TEST_F(GrpcStreamingTest, ServerThatStopsReadingStallsTheClientsWrites) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  std::vector<std::string> requests(kFloodMessages,
                                    std::string(kFloodMessageBytes, 'r'));
  TestClient client(*channel, kStalledSum, MethodKind::kClientStreaming,
                    requests);
  client.Start();
  ASSERT_TRUE(Eventually([&] { return Stalled() != nullptr; }));
  ASSERT_TRUE(Eventually([&] { return client.writes_done() >= 1; }));
  // The server reads nothing: HTTP/2 flow control must hold the writes.
  EXPECT_FALSE(Eventually(
      [&] { return client.writes_done() == kFloodMessages; }, kStallWatch));
  const int stalled_at = client.writes_done();
  EXPECT_LT(stalled_at, kFloodMessages);

  Stalled()->StartReading();
  ASSERT_THAT(client.Wait(), IsOk());
  EXPECT_EQ(client.writes_done(), kFloodMessages);
  ASSERT_THAT(client.responses(), SizeIs(1));
  EXPECT_EQ(client.responses()[0], std::string(kFloodMessages, 'r'));
  EXPECT_THAT(client.trailers(),
              Contains(Pair("count", absl::StrCat(kFloodMessages))));
}

TEST_F(GrpcStreamingTest, ClientThatStopsReadingStallsTheServersWrites) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient::Options options;
  options.read = false;
  TestClient client(*channel, kFlood, MethodKind::kServerStreaming,
                    {absl::StrCat(kFloodMessages)}, options);
  client.Start();
  ASSERT_TRUE(Eventually([&] { return events_.writes_done.load() >= 1; }));
  EXPECT_FALSE(
      Eventually([&] { return events_.writes_done.load() == kFloodMessages; },
                 kStallWatch));
  EXPECT_LT(events_.writes_done.load(), kFloodMessages);
  EXPECT_FALSE(client.done());

  client.StartReading();
  ASSERT_THAT(client.Wait(), IsOk());
  EXPECT_EQ(client.response_count(), static_cast<size_t>(kFloodMessages));
  EXPECT_EQ(events_.writes_done.load(), kFloodMessages);
}

TEST_F(GrpcStreamingTest, DestroyingTheChannelCancelsStreamsAndWaits) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  constexpr int kStreams = 3;
  std::vector<std::unique_ptr<TestClient>> clients;
  TestClient::Options options;
  options.half_close = false;
  for (int i = 0; i < kStreams; ++i) {
    clients.push_back(std::make_unique<TestClient>(
        *channel, kSilent, MethodKind::kBidiStreaming,
        std::vector<std::string>{"x"}, options));
    clients.back()->Start();
  }
  for (auto& client : clients) {
    ASSERT_TRUE(Eventually([&] { return client->writes_done() == 1; }));
  }
  channel.reset();
  // Every OnDone has run by the time the destructor returned.
  for (auto& client : clients) {
    EXPECT_TRUE(client->done());
    EXPECT_THAT(client->Wait(), StatusIs(absl::StatusCode::kCancelled));
  }
  EXPECT_TRUE(Eventually([&] { return events_.dones.load() == kStreams; }));
}

TEST_F(GrpcStreamingTest, OperationsStartedInsideStartStreamCompleteAfter) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient early(*channel, kEarly, MethodKind::kBidiStreaming, {"r1"});
  early.Start();
  EXPECT_THAT(early.Wait(), IsOk());
  EXPECT_THAT(early.responses(), ElementsAre("early"));

  TestClient finished(*channel, kFinishEarly, MethodKind::kServerStreaming,
                      {"ignored"});
  finished.Start();
  EXPECT_THAT(finished.Wait(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        "finished at once"));
  EXPECT_THAT(finished.responses(), IsEmpty());
  EXPECT_THAT(finished.trailers(), Contains(Pair("early", "yes")));

  EXPECT_TRUE(Eventually([&] { return events_.dones.load() == 2; }));
  EXPECT_EQ(events_.early_callbacks.load(), 0)
      << "a callback ran before start_stream returned";
}

TEST_F(GrpcStreamingTest, BadTrailerIsInternal) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient client(*channel, kBadTrailer, MethodKind::kBidiStreaming, {});
  client.Start();
  EXPECT_THAT(client.Wait(), StatusIs(absl::StatusCode::kInternal,
                                      HasSubstr("bad response metadata")));
}

TEST_F(GrpcStreamingTest, BadRequestMetadataFailsBeforeSending) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient::Options options;
  options.call.metadata = {{"Not A Key", "x"}};
  TestClient client(*channel, kEcho, MethodKind::kBidiStreaming, {"a"},
                    options);
  client.Start();
  EXPECT_THAT(client.Wait(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(events_.dones.load(), 0);
}

TEST_F(GrpcStreamingTest, UnknownStreamingMethodIsUnimplemented) {
  std::shared_ptr<grpc::GrpcChannel> channel = NewChannel();
  TestClient client(*channel, "/dualrpc.testing.Streams/Nope",
                    MethodKind::kBidiStreaming, {"a"});
  client.Start();
  EXPECT_THAT(client.Wait(), StatusIs(absl::StatusCode::kUnimplemented));
}

// A third-party gRPC client (grpc-js) sees real gRPC streaming methods, and
// requests that do not parse fail the call. The script encodes BytesValue
// by hand (field 1, one-byte length).
constexpr char kGrpcJsScript[] = R"js(
const grpc = require(process.argv[1] + '/@grpc/grpc-js');
const address = process.argv[2];
const encode = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([0x0a, b.length]), b]);
};
const decode = (b) => b.length === 0 ? '' : b.subarray(2).toString();
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const result = {};
const finish = (name, messages) => (status) => {
  result[name] = {messages, code: status.code};
  if (Object.keys(result).length === 4) {
    console.log(JSON.stringify(result));
    client.close();
  }
};
const split = client.makeServerStreamRequest(
    '/dualrpc.testing.Streams/Split', encode, decode, 'node');
const splitMessages = [];
split.on('data', (m) => splitMessages.push(m));
split.on('error', () => {});
split.on('status', finish('split', splitMessages));
const echo = client.makeBidiStreamRequest(
    '/dualrpc.testing.Streams/Echo', encode, decode);
const echoMessages = [];
echo.on('data', (m) => echoMessages.push(m));
echo.on('error', () => {});
echo.on('status', finish('echo', echoMessages));
echo.write('one');
echo.write('two');
echo.end();
// Requests that do not parse as BytesValue (a truncated varint tag).
const garbage = Buffer.from([0xff, 0xff, 0xff]);
const raw = (b) => b;
const badSplit = client.makeServerStreamRequest(
    '/dualrpc.testing.Streams/Split', raw, decode, garbage);
const badSplitMessages = [];
badSplit.on('data', (m) => badSplitMessages.push(m));
badSplit.on('error', () => {});
badSplit.on('status', finish('bad_split', badSplitMessages));
const badEcho = client.makeBidiStreamRequest(
    '/dualrpc.testing.Streams/Echo', raw, decode);
const badEchoMessages = [];
badEcho.on('data', (m) => {
  badEchoMessages.push(m);
  badEcho.write(garbage);
});
badEcho.on('error', () => {});
badEcho.on('status', finish('bad_echo', badEchoMessages));
badEcho.write(encode('fine'));
)js";

TEST_F(GrpcStreamingTest, GrpcJsCallsServerStreamingAndBidiMethods) {
  dualrpc_testing::CommandResult result =
      dualrpc_testing::RunCommand({"/usr/bin/node", "-e", kGrpcJsScript,
                                   DUALRPC_NODE_MODULES, server_->address()},
                                  "", absl::Seconds(30));
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text,
              HasSubstr(R"("split":{"messages":["n","o","d","e"],"code":0})"))
      << result.stdout_text;
  EXPECT_THAT(result.stdout_text,
              HasSubstr(R"("echo":{"messages":["one","two"],"code":0})"))
      << result.stdout_text;
  // INVALID_ARGUMENT (3): before start_stream for the one request of a
  // server-streaming call; mid-stream, after the good request's echo, for
  // bidi (the server's reads end and Finish(OK) becomes the parse error).
  EXPECT_THAT(result.stdout_text,
              HasSubstr(R"("bad_split":{"messages":[],"code":3})"))
      << result.stdout_text;
  EXPECT_THAT(result.stdout_text,
              HasSubstr(R"("bad_echo":{"messages":["fine"],"code":3})"))
      << result.stdout_text;
}

}  // namespace
}  // namespace dualrpc::rpc
