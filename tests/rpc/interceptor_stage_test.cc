// The interceptor stage of ServiceRegistry (rpc/interceptor.h) on its own:
// fake contexts and streams, no transport.

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/interceptor.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"

// Allocations made by this thread (allocation_counter.cc replaces operator
// new), to show that the stage allocates nothing per call when no
// interceptor wants OnCallEnd.
std::size_t ThreadAllocations();
bool AllocationsCounted();

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::FakeServerStream;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::StringValue;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class FakeCallContext final : public ServerCallContext {
 public:
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return "fake"; }
  absl::string_view transport() const override { return "fake"; }

 private:
  Metadata metadata_;
};

// Logs its OnCallStart calls as "name path" into a shared log, rejects with
// `reject` when set, sets the principal to `name` when it accepts, and
// keeps the CallRecords of OnCallEnd when `wants_end`.
class LoggingInterceptor final : public ServerInterceptor {
 public:
  LoggingInterceptor(std::string name, std::vector<std::string>* log,
                     bool wants_end = false,
                     absl::Status reject = absl::OkStatus())
      : name_(std::move(name)),
        log_(log),
        wants_end_(wants_end),
        reject_(std::move(reject)) {}

  absl::Status OnCallStart(const Method& method,
                           ServerCallContext* context) override {
    absl::MutexLock lock(&mu_);
    log_->push_back(name_ + " " + method.path);
    if (!reject_.ok()) return reject_;
    context->set_principal(name_);
    return absl::OkStatus();
  }
  void OnCallEnd(const CallRecord& record) override {
    absl::MutexLock lock(&mu_);
    // The context is valid here: read it.
    ends_.push_back({record, std::string(record.context->transport())});
  }
  bool wants_call_end() const override { return wants_end_; }

  struct End {
    CallRecord record;
    std::string transport;
  };
  std::vector<End> ends() const {
    absl::MutexLock lock(&mu_);
    return ends_;
  }

 private:
  const std::string name_;
  std::vector<std::string>* const log_;
  const bool wants_end_;
  const absl::Status reject_;
  mutable absl::Mutex mu_;
  std::vector<End> ends_;
};

// "/t.S/Upper": the request upper-cased; sees the principal; counts runs.
struct UpperService {
  std::atomic<int> runs{0};
  std::string principal;

  Method Upper() {
    return dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
        "/t.S/Upper", [this](ServerCallContext* context,
                             const StringValue& request, StringValue* response,
                             UnaryDone done) {
          ++runs;
          principal = context->principal();
          std::string value = request.value();
          for (char& c : value) c = static_cast<char>(std::toupper(c));
          response->set_value(value);
          std::move(done)(absl::OkStatus());
        });
  }
};

struct UnaryResult {
  std::optional<absl::Status> status;
  StringValue response;
};

UnaryResult CallUnary(const ServiceRegistry& registry, absl::string_view path,
                      const std::string& value, ServerCallContext* context) {
  const Method* method = registry.FindMethod(path);
  EXPECT_NE(method, nullptr);
  StringValue request;
  request.set_value(value);
  UnaryResult result;
  method->invoke(context, &request, &result.response,
                 [&result](absl::Status status) { result.status = status; });
  return result;
}

TEST(InterceptorStageTest, RunsInterceptorsInOrderBeforeTheImplementation) {
  std::vector<std::string> log;
  UpperService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("a", &log)),
              IsOk());
  ASSERT_THAT(registry.AddMethod(service.Upper()), IsOk());
  // Added after the method: still in front of it.
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("b", &log)),
              IsOk());
  FakeCallContext context;
  UnaryResult result = CallUnary(registry, "/t.S/Upper", "hi", &context);
  EXPECT_THAT(*result.status, IsOk());
  EXPECT_EQ(result.response.value(), "HI");
  EXPECT_THAT(log, ElementsAre("a /t.S/Upper", "b /t.S/Upper"));
  // The last one to set it wins; the implementation sees it.
  EXPECT_EQ(service.principal, "b");
}

TEST(InterceptorStageTest, NullInterceptorIsInvalid) {
  ServiceRegistry registry;
  EXPECT_THAT(registry.AddInterceptor(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InterceptorStageTest, UnaryRejectionSkipsTheRestAndTheImplementation) {
  std::vector<std::string> log;
  UpperService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.Upper()), IsOk());
  ASSERT_THAT(registry.AddInterceptor(std::make_shared<LoggingInterceptor>(
                  "a", &log, false, absl::UnauthenticatedError("no token"))),
              IsOk());
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("b", &log)),
              IsOk());
  FakeCallContext context;
  UnaryResult result = CallUnary(registry, "/t.S/Upper", "hi", &context);
  EXPECT_THAT(*result.status,
              StatusIs(absl::StatusCode::kUnauthenticated, "no token"));
  EXPECT_EQ(service.runs, 0);
  EXPECT_THAT(log, ElementsAre("a /t.S/Upper"));
}

TEST(InterceptorStageTest, CopiesCarryTheInterceptorsAddedBefore) {
  std::vector<std::string> log;
  UpperService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.Upper()), IsOk());
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("a", &log)),
              IsOk());
  ServiceRegistry copy = registry;
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("late", &log)),
              IsOk());
  {
    // The copy outlives its source: its methods refer to nothing of it.
    ServiceRegistry moved = std::move(registry);
    FakeCallContext context;
    EXPECT_THAT(*CallUnary(moved, "/t.S/Upper", "x", &context).status,
                IsOk());
  }
  EXPECT_THAT(log, ElementsAre("a /t.S/Upper", "late /t.S/Upper"));
  log.clear();
  FakeCallContext context;
  EXPECT_THAT(*CallUnary(copy, "/t.S/Upper", "x", &context).status, IsOk());
  EXPECT_THAT(log, ElementsAre("a /t.S/Upper"));
  ServiceRegistry assigned;
  assigned = copy;
  log.clear();
  EXPECT_THAT(*CallUnary(assigned, "/t.S/Upper", "x", &context).status,
              IsOk());
  EXPECT_THAT(log, ElementsAre("a /t.S/Upper"));
  // ServiceMethods hands out the served methods too.
  std::vector<const Method*> methods = assigned.ServiceMethods("t.S");
  ASSERT_THAT(methods, SizeIs(1));
  EXPECT_EQ(methods[0], assigned.FindMethod("/t.S/Upper"));
}

TEST(InterceptorStageTest, UnaryCallEndRecordsStatusCountsAndBytes) {
  std::vector<std::string> log;
  UpperService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.Upper()), IsOk());
  auto recorder = std::make_shared<LoggingInterceptor>("rec", &log, true);
  // Not wanting the end: never told, even though the stage keeps records.
  auto quiet = std::make_shared<LoggingInterceptor>("quiet", &log, false);
  ASSERT_THAT(registry.AddInterceptor(recorder), IsOk());
  ASSERT_THAT(registry.AddInterceptor(quiet), IsOk());
  FakeCallContext context;
  UnaryResult result = CallUnary(registry, "/t.S/Upper", "hello", &context);
  ASSERT_THAT(*result.status, IsOk());
  std::vector<LoggingInterceptor::End> ends = recorder->ends();
  ASSERT_THAT(ends, SizeIs(1));
  const CallRecord& record = ends[0].record;
  EXPECT_EQ(record.method, registry.FindMethod("/t.S/Upper"));
  EXPECT_EQ(ends[0].transport, "fake");
  EXPECT_THAT(record.status, IsOk());
  StringValue request;
  request.set_value("hello");
  EXPECT_EQ(record.request_messages, 1);
  EXPECT_EQ(record.request_bytes,
            static_cast<std::int64_t>(request.ByteSizeLong()));
  EXPECT_EQ(record.response_messages, 1);
  EXPECT_EQ(record.response_bytes,
            static_cast<std::int64_t>(result.response.ByteSizeLong()));
  EXPECT_GE(record.duration, absl::ZeroDuration());
  EXPECT_THAT(quiet->ends(), IsEmpty());
}

TEST(InterceptorStageTest, RejectedCallEndsForTheInterceptorsThatSawIt) {
  std::vector<std::string> log;
  UpperService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.Upper()), IsOk());
  auto first = std::make_shared<LoggingInterceptor>("first", &log, true);
  auto rejecter = std::make_shared<LoggingInterceptor>(
      "rejecter", &log, true, absl::PermissionDeniedError("no"));
  auto after = std::make_shared<LoggingInterceptor>("after", &log, true);
  for (const auto& interceptor : {first, rejecter, after}) {
    ASSERT_THAT(registry.AddInterceptor(interceptor), IsOk());
  }
  FakeCallContext context;
  UnaryResult result = CallUnary(registry, "/t.S/Upper", "hello", &context);
  EXPECT_THAT(*result.status, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(service.runs, 0);
  for (const auto& saw : {first, rejecter}) {
    std::vector<LoggingInterceptor::End> ends = saw->ends();
    ASSERT_THAT(ends, SizeIs(1));
    EXPECT_THAT(ends[0].record.status,
                StatusIs(absl::StatusCode::kPermissionDenied, "no"));
    EXPECT_EQ(ends[0].record.request_messages, 1);
    EXPECT_EQ(ends[0].record.response_messages, 0);
  }
  EXPECT_THAT(after->ends(), IsEmpty());
}

// Calls `method` `times` times and returns the allocations this thread made.
std::size_t AllocationsOfCalls(const Method& method, int times) {
  FakeCallContext context;
  StringValue request;
  request.set_value("a request long enough to defeat small-string storage");
  StringValue response;
  std::size_t before = ThreadAllocations();
  for (int i = 0; i < times; ++i) {
    method.invoke(&context, &request, &response, [](absl::Status) {});
  }
  return ThreadAllocations() - before;
}

TEST(InterceptorStageTest, NoAllocationPerCallWhenNoInterceptorWantsTheEnd) {
  if (!AllocationsCounted()) {
    GTEST_SKIP() << "TSan owns operator new: allocations are not counted";
  }
  std::vector<std::string> log;
  log.reserve(1000);
  // The implementation allocates nothing by itself.
  Method noop = dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
      "/t.S/Noop", [](ServerCallContext*, const StringValue&, StringValue*,
                      UnaryDone done) { std::move(done)(absl::OkStatus()); });
  class Cheap final : public ServerInterceptor {
   public:
    absl::Status OnCallStart(const Method&, ServerCallContext*) override {
      ++calls;
      return absl::OkStatus();
    }
    int calls = 0;
  };
  auto cheap = std::make_shared<Cheap>();
  ServiceRegistry plain;
  ASSERT_THAT(plain.AddMethod(noop), IsOk());
  ServiceRegistry staged = plain;
  ASSERT_THAT(staged.AddInterceptor(cheap), IsOk());

  const std::size_t direct = AllocationsOfCalls(*plain.FindMethod("/t.S/Noop"), 100);
  const std::size_t through_stage =
      AllocationsOfCalls(*staged.FindMethod("/t.S/Noop"), 100);
  EXPECT_EQ(cheap->calls, 100);
  EXPECT_EQ(through_stage, direct);

  // Whereas records cost something: the test can tell the difference.
  ServiceRegistry recorded = plain;
  ASSERT_THAT(recorded.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("rec", &log, true)),
              IsOk());
  EXPECT_GT(AllocationsOfCalls(*recorded.FindMethod("/t.S/Noop"), 100),
            direct);
}

// A recorded unary call keeps its record in a block from the ending
// thread's cache (base/heap.h) and its done wrapper holds one pointer: once
// the thread is warm, an interceptor that wants the end (and allocates
// nothing itself) adds no allocation per call.
TEST(InterceptorStageTest, RecordedUnaryCallAllocatesNothingOnceWarm) {
  Method noop = dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
      "/t.S/Noop", [](ServerCallContext*, const StringValue&, StringValue*,
                      UnaryDone done) { std::move(done)(absl::OkStatus()); });
  class Counting final : public ServerInterceptor {
   public:
    absl::Status OnCallStart(const Method&, ServerCallContext*) override {
      return absl::OkStatus();
    }
    void OnCallEnd(const CallRecord& record) override {
      ++ends;
      bytes += record.request_bytes + record.response_bytes;
    }
    bool wants_call_end() const override { return true; }
    int ends = 0;
    std::int64_t bytes = 0;
  };
  auto counting = std::make_shared<Counting>();
  ServiceRegistry plain;
  ASSERT_THAT(plain.AddMethod(noop), IsOk());
  ServiceRegistry recorded = plain;
  ASSERT_THAT(recorded.AddInterceptor(counting), IsOk());
  const Method& method = *recorded.FindMethod("/t.S/Noop");

  const std::size_t direct =
      AllocationsOfCalls(*plain.FindMethod("/t.S/Noop"), 100);
  AllocationsOfCalls(method, 1);  // warms this thread's cache
  EXPECT_EQ(AllocationsOfCalls(method, 100), direct);
  EXPECT_EQ(counting->ends, 101);
  EXPECT_GT(counting->bytes, 0);
}

// ---- Streaming ----------------------------------------------------------

// Bidi "/t.S/Chat": echoes each request upper-cased, finishes OK after the
// client half-closes. Client streaming "/t.S/Join": the requests joined into
// the one response. Server streaming "/t.S/Repeat": the request 3 times.
// Each counts its starts and keeps the principal its context had.
struct StreamService {
  std::atomic<int> starts{0};
  std::string principal;
  ServerStream* stream_seen = nullptr;

  class Chat final : public ServerBidiReactor<StringValue, StringValue> {
   public:
    explicit Chat(ServerStream* stream) : ServerBidiReactor(stream) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(absl::OkStatus());
        return;
      }
      std::string value = request_.value();
      for (char& c : value) c = static_cast<char>(std::toupper(c));
      response_.set_value(value);
      StartWrite(response_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(absl::CancelledError());
        return;
      }
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    StringValue request_;
    StringValue response_;
  };

  class Join final : public ServerReadReactor<StringValue> {
   public:
    Join(ServerStream* stream, StringValue* response)
        : ServerReadReactor(stream), response_(response) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(absl::OkStatus());
        return;
      }
      response_->mutable_value()->append(request_.value());
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    StringValue* const response_;
    StringValue request_;
  };

  class Repeat final : public ServerWriteReactor<StringValue> {
   public:
    Repeat(ServerStream* stream, const StringValue* request)
        : ServerWriteReactor(stream), request_(*request) {
      Next();
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(absl::CancelledError());
        return;
      }
      Next();
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      if (left_-- == 0) {
        Finish(absl::OkStatus());
        return;
      }
      StartWrite(request_);
    }
    const StringValue request_;
    int left_ = 3;
  };

  void Saw(ServerStream* stream) {
    ++starts;
    principal = stream->principal();
    stream_seen = stream;
  }

  rpc::Method MethodOf(MethodKind kind) {
    rpc::Method method = internal::StreamingMethodShell<StringValue, StringValue>(
        kind == MethodKind::kBidiStreaming     ? "/t.S/Chat"
        : kind == MethodKind::kClientStreaming ? "/t.S/Join"
                                               : "/t.S/Repeat",
        kind);
    method.start_stream = [this, kind](ServerStream* stream,
                                       const google::protobuf::Message* request,
                                       google::protobuf::Message* response)
        -> ServerStreamReactor* {
      Saw(stream);
      switch (kind) {
        case MethodKind::kBidiStreaming:
          return new Chat(stream);
        case MethodKind::kClientStreaming:
          return new Join(stream, static_cast<StringValue*>(response));
        default:
          return new Repeat(stream, static_cast<const StringValue*>(request));
      }
    };
    return method;
  }
};

StringValue Text(const std::string& value) {
  StringValue message;
  message.set_value(value);
  return message;
}

class StreamingStageTest : public ::testing::TestWithParam<MethodKind> {};

TEST_P(StreamingStageTest, RejectionFinishesTheStreamWithoutTheImplementation) {
  std::vector<std::string> log;
  StreamService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.MethodOf(GetParam())), IsOk());
  ASSERT_THAT(registry.AddInterceptor(std::make_shared<LoggingInterceptor>(
                  "a", &log, false, absl::UnauthenticatedError("who?"))),
              IsOk());
  const Method& method = *registry.ServiceMethods("t.S")[0];
  StringValue request = Text("x");
  FakeServerStream stream;
  stream.Start(method, &request);
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(),
              StatusIs(absl::StatusCode::kUnauthenticated, "who?"));
  EXPECT_EQ(service.starts, 0);
  EXPECT_EQ(stream.write_count(), 0u);
  EXPECT_THAT(stream.misuses(), IsEmpty());
  EXPECT_THAT(log, ElementsAre("a " + method.path));
}

TEST_P(StreamingStageTest, RejectionIsRecordedWhenTheEndIsWanted) {
  std::vector<std::string> log;
  StreamService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.MethodOf(GetParam())), IsOk());
  auto rejecter = std::make_shared<LoggingInterceptor>(
      "a", &log, true, absl::PermissionDeniedError("not you"));
  ASSERT_THAT(registry.AddInterceptor(rejecter), IsOk());
  StringValue request = Text("x");
  FakeServerStream stream;
  stream.Start(*registry.ServiceMethods("t.S")[0], &request);
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(service.starts, 0);
  std::vector<LoggingInterceptor::End> ends = rejecter->ends();
  ASSERT_THAT(ends, SizeIs(1));
  EXPECT_THAT(ends[0].record.status,
              StatusIs(absl::StatusCode::kPermissionDenied, "not you"));
  EXPECT_EQ(ends[0].record.response_messages, 0);
}

TEST_P(StreamingStageTest, WithoutWantedEndTheImplementationGetsTheStream) {
  std::vector<std::string> log;
  StreamService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.MethodOf(GetParam())), IsOk());
  ASSERT_THAT(registry.AddInterceptor(
                  std::make_shared<LoggingInterceptor>("p", &log)),
              IsOk());
  StringValue request = Text("ab");
  FakeServerStream stream;
  stream.Start(*registry.ServiceMethods("t.S")[0], &request);
  stream.PushRequest(Text("ab"));
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  // No decorator in between: the transport's own stream, principal set.
  EXPECT_EQ(service.stream_seen, &stream);
  EXPECT_EQ(service.principal, "p");
}

TEST_P(StreamingStageTest, CallEndRecordsCountsBytesAndStatus) {
  std::vector<std::string> log;
  StreamService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.MethodOf(GetParam())), IsOk());
  auto recorder = std::make_shared<LoggingInterceptor>("rec", &log, true);
  ASSERT_THAT(registry.AddInterceptor(recorder), IsOk());
  const Method& method = *registry.ServiceMethods("t.S")[0];
  StringValue request = Text("abc");
  FakeServerStream stream(Metadata{{"k", "v"}});
  stream.Start(method, &request);
  if (ClientStreams(GetParam())) {
    stream.PushRequest(Text("abc"));
    stream.PushRequest(Text("defgh"));
    stream.CloseRequests();
  }
  ASSERT_TRUE(stream.WaitForDone());
  ASSERT_THAT(stream.status(), IsOk());
  EXPECT_THAT(stream.misuses(), IsEmpty());
  // The implementation saw the decorator, with the principal set on it.
  EXPECT_NE(service.stream_seen, &stream);
  EXPECT_EQ(service.principal, "rec");

  std::vector<LoggingInterceptor::End> ends = recorder->ends();
  ASSERT_THAT(ends, SizeIs(1));
  const CallRecord& record = ends[0].record;
  EXPECT_EQ(record.method, &method);
  EXPECT_THAT(record.status, IsOk());
  const auto size = [](const std::string& value) {
    return static_cast<std::int64_t>(Text(value).ByteSizeLong());
  };
  switch (GetParam()) {
    case MethodKind::kBidiStreaming:
      EXPECT_EQ(record.request_messages, 2);
      EXPECT_EQ(record.request_bytes, size("abc") + size("defgh"));
      EXPECT_EQ(record.response_messages, 2);
      EXPECT_EQ(record.response_bytes, size("ABC") + size("DEFGH"));
      EXPECT_EQ(stream.write_count(), 2u);
      break;
    case MethodKind::kClientStreaming:
      EXPECT_EQ(record.request_messages, 2);
      EXPECT_EQ(record.request_bytes, size("abc") + size("defgh"));
      EXPECT_EQ(record.response_messages, 1);
      EXPECT_EQ(record.response_bytes, size("abcdefgh"));
      break;
    default:
      EXPECT_EQ(record.request_messages, 1);
      EXPECT_EQ(record.request_bytes, size("abc"));
      EXPECT_EQ(record.response_messages, 3);
      EXPECT_EQ(record.response_bytes, 3 * size("abc"));
      EXPECT_EQ(stream.write_count(), 3u);
  }
}

TEST_P(StreamingStageTest, CancelledCallIsRecordedWithTheImplementationsStatus) {
  std::vector<std::string> log;
  StreamService service;
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(service.MethodOf(GetParam())), IsOk());
  auto recorder = std::make_shared<LoggingInterceptor>("rec", &log, true);
  ASSERT_THAT(registry.AddInterceptor(recorder), IsOk());
  StringValue request = Text("abc");
  FakeServerStream stream;
  stream.HoldWrites();
  stream.Start(*registry.ServiceMethods("t.S")[0], &request);
  if (GetParam() == MethodKind::kServerStreaming) {
    ASSERT_TRUE(stream.WaitForWrites(1));
  } else {
    stream.PushRequest(Text("abc"));
    if (GetParam() == MethodKind::kBidiStreaming) {
      ASSERT_TRUE(stream.WaitForWrites(1));
    }
  }
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  std::vector<LoggingInterceptor::End> ends = recorder->ends();
  ASSERT_THAT(ends, SizeIs(1));
  EXPECT_EQ(ends[0].record.status, stream.status());
  // A write that did not complete is not counted as sent.
  EXPECT_EQ(ends[0].record.response_messages,
            GetParam() == MethodKind::kClientStreaming &&
                    stream.status().ok()
                ? 1
                : 0);
}

INSTANTIATE_TEST_SUITE_P(Kinds, StreamingStageTest,
                         ::testing::Values(MethodKind::kClientStreaming,
                                           MethodKind::kServerStreaming,
                                           MethodKind::kBidiStreaming));

}  // namespace
}  // namespace dualrpc::rpc
