#include "testing/fake_server_stream.h"

#include "dualrpc/rpc/reactor.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc_testing {
namespace {
using google::protobuf::StringValue;

// Bidi echo reactor.
class EchoReactor
    : public dualrpc::rpc::ServerBidiReactor<StringValue, StringValue> {
 public:
  explicit EchoReactor(dualrpc::rpc::ServerStream* s) : ServerBidiReactor(s) {
    StartRead(&in_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(absl::OkStatus());
      return;
    }
    StartWrite(in_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(absl::CancelledError());
      return;
    }
    StartRead(&in_);
  }
  void OnDone() override { delete this; }

 private:
  StringValue in_;
};

TEST(FakeServerStreamTest, DrivesABidiReactor) {
  dualrpc::rpc::Method method =
      dualrpc::rpc::internal::StreamingMethodShell<StringValue, StringValue>(
          "/t.S/E", dualrpc::rpc::MethodKind::kBidiStreaming);
  method.start_stream =
      [](dualrpc::rpc::ServerStream* s, const google::protobuf::Message*,
         google::protobuf::Message*) -> dualrpc::rpc::ServerStreamReactor* {
    return new EchoReactor(s);
  };
  FakeServerStream stream;
  stream.Start(method);
  StringValue v;
  v.set_value("a");
  stream.PushRequest(v);
  v.set_value("b");
  stream.PushRequest(v);
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  auto w = stream.Writes<StringValue>();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].value(), "a");
  EXPECT_EQ(w[1].value(), "b");
  EXPECT_TRUE(stream.misuses().empty());
}

TEST(FakeServerStreamTest, CancelEndsHeldWrites) {
  dualrpc::rpc::Method method =
      dualrpc::rpc::internal::StreamingMethodShell<StringValue, StringValue>(
          "/t.S/E", dualrpc::rpc::MethodKind::kBidiStreaming);
  method.start_stream =
      [](dualrpc::rpc::ServerStream* s, const google::protobuf::Message*,
         google::protobuf::Message*) -> dualrpc::rpc::ServerStreamReactor* {
    return new EchoReactor(s);
  };
  FakeServerStream stream;
  stream.HoldWrites();
  stream.Start(method);
  StringValue v;
  v.set_value("a");
  stream.PushRequest(v);
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_TRUE(stream.IsCancelled());
}
}  // namespace
}  // namespace dualrpc_testing
