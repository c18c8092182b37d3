#include "dualrpc/service/file_service_impl.h"

#include <fcntl.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::service {
namespace {

using ::dualrpc_testing::FakeServerStream;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// What protoc-gen-dualrpc's Register will build for the two methods (until
// it generates them): the impl's start functions behind rpc::Method.
rpc::Method WalkTreeMethod(FileServiceImpl* impl) {
  rpc::Method method =
      rpc::internal::StreamingMethodShell<v1::WalkTreeRequest,
                                          v1::WalkTreeResponse>(
          "/dualrpc.v1.FileService/WalkTree",
          rpc::MethodKind::kServerStreaming);
  method.start_stream = [impl](rpc::ServerStream* stream,
                               const google::protobuf::Message* request,
                               google::protobuf::Message*)
      -> rpc::ServerStreamReactor* {
    return impl->WalkTree(stream,
                          static_cast<const v1::WalkTreeRequest*>(request));
  };
  return method;
}

rpc::Method EchoStreamMethod(FileServiceImpl* impl) {
  rpc::Method method = rpc::internal::StreamingMethodShell<v1::EchoRequest,
                                                           v1::EchoResponse>(
      "/dualrpc.v1.FileService/EchoStream", rpc::MethodKind::kBidiStreaming);
  method.start_stream = [impl](rpc::ServerStream* stream,
                               const google::protobuf::Message*,
                               google::protobuf::Message*)
      -> rpc::ServerStreamReactor* { return impl->EchoStream(stream); };
  return method;
}

class FileServiceImplTest : public ::testing::Test {
 protected:
  // Serves `tree_` with `options`; subdirectory opens are counted.
  void Serve(fileservice::FileServiceOptions options = {}) {
    options.walk.open_subdirectory = [this](int parent_fd, const char* name,
                                            int flags) {
      directories_opened_.fetch_add(1);
      return ::openat(parent_fd, name, flags);
    };
    absl::StatusOr<fileservice::ServedRoot> root =
        fileservice::ServedRoot::Open(tree_.path());
    ASSERT_THAT(root.status(), IsOk());
    core_ = std::make_unique<fileservice::FileServiceCore>(*std::move(root),
                                                           options);
    impl_ = std::make_unique<FileServiceImpl>(core_.get(), &executor_);
    walk_tree_ = WalkTreeMethod(impl_.get());
    echo_stream_ = EchoStreamMethod(impl_.get());
  }

  static std::vector<std::string> Paths(
      const std::vector<v1::WalkTreeResponse>& responses) {
    std::vector<std::string> paths;
    for (const v1::WalkTreeResponse& response : responses) {
      for (const v1::TreeEntry& entry : response.entries()) {
        paths.push_back(entry.path());
      }
    }
    return paths;
  }

  TempDir tree_;
  std::atomic<int> directories_opened_{0};
  base::BlockingExecutor executor_{{2, 16}};
  std::unique_ptr<fileservice::FileServiceCore> core_;
  std::unique_ptr<FileServiceImpl> impl_;
  rpc::Method walk_tree_;
  rpc::Method echo_stream_;
};

TEST_F(FileServiceImplTest, WalkTreeWritesOneResponsePerBatch) {
  tree_.MakeDir("a");
  tree_.WriteFile("a/1");
  tree_.WriteFile("a/2");
  tree_.WriteFile("b");
  tree_.WriteFile("c");
  fileservice::FileServiceOptions options;
  options.walk_batch_entries = 2;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  FakeServerStream stream;
  v1::WalkTreeRequest request;
  stream.Start(walk_tree_, &request);
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  std::vector<v1::WalkTreeResponse> responses =
      stream.Writes<v1::WalkTreeResponse>();
  ASSERT_EQ(responses.size(), 3u);
  for (const v1::WalkTreeResponse& response : responses) {
    EXPECT_LE(response.entries_size(), 2);
  }
  EXPECT_THAT(Paths(responses), ElementsAre("a", "a/1", "a/2", "b", "c"));
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(FileServiceImplTest, WalkTreeOfAnEmptyDirectoryEndsOkWithoutWrites) {
  ASSERT_NO_FATAL_FAILURE(Serve());
  FakeServerStream stream;
  v1::WalkTreeRequest request;
  stream.Start(walk_tree_, &request);
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  EXPECT_EQ(stream.write_count(), 0u);
}

TEST_F(FileServiceImplTest, WalkTreeStartPathErrorsFailTheCall) {
  tree_.WriteFile("file");
  ASSERT_NO_FATAL_FAILURE(Serve());
  const std::vector<std::pair<std::string, absl::StatusCode>> cases = {
      {"missing", absl::StatusCode::kNotFound},
      {"..", absl::StatusCode::kPermissionDenied},
      {"/etc", absl::StatusCode::kInvalidArgument},
      {"file", absl::StatusCode::kFailedPrecondition}};
  for (const auto& [path, code] : cases) {
    FakeServerStream stream;
    v1::WalkTreeRequest request;
    request.set_path(path);
    stream.Start(walk_tree_, &request);
    ASSERT_TRUE(stream.WaitForDone()) << path;
    EXPECT_THAT(stream.status(), StatusIs(code)) << path;
    EXPECT_EQ(stream.write_count(), 0u) << path;
  }
}

// 2,000 subdirectories, one entry per batch, the client reads nothing: the
// walk stops after the first batch (the next is read only after its write
// completes), and cancelling ends it without reading further.
TEST_F(FileServiceImplTest, WalkTreeReadsNoFurtherThanTheClientTakes) {
  for (int i = 0; i < 2000; ++i) tree_.MakeDir(absl::StrCat("d", 10000 + i));
  fileservice::FileServiceOptions options;
  options.walk_batch_entries = 1;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  FakeServerStream stream;
  stream.HoldWrites();
  v1::WalkTreeRequest request;
  stream.Start(walk_tree_, &request);
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.Cancel();
  stream.ReleaseWrites();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_EQ(stream.write_count(), 1u);
  // The first batch entered d10000; nothing after it was read.
  EXPECT_EQ(directories_opened_.load(), 1);
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(FileServiceImplTest, WalkTreeStopsReadingOnceCancelled) {
  for (int i = 0; i < 2000; ++i) tree_.MakeDir(absl::StrCat("d", 10000 + i));
  fileservice::FileServiceOptions options;
  options.walk_batch_entries = 1;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  FakeServerStream stream;
  v1::WalkTreeRequest request;
  stream.Start(walk_tree_, &request);
  ASSERT_TRUE(stream.WaitForWrites(10));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  // At most the batch in flight when the cancel landed, never the rest.
  EXPECT_LT(stream.write_count(), 2000u);
  EXPECT_LE(directories_opened_.load(),
            static_cast<int>(stream.write_count()) + 1);
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(FileServiceImplTest, WalkTreePastItsDeadlineReadsNothing) {
  tree_.MakeDir("a");
  ASSERT_NO_FATAL_FAILURE(Serve());
  FakeServerStream stream({}, absl::Now() - absl::Seconds(1));
  v1::WalkTreeRequest request;
  stream.Start(walk_tree_, &request);
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(stream.write_count(), 0u);
  EXPECT_EQ(directories_opened_.load(), 0);
}

TEST_F(FileServiceImplTest, EchoStreamAnswersEachRequestInOrder) {
  ASSERT_NO_FATAL_FAILURE(Serve());
  FakeServerStream stream;
  stream.Start(echo_stream_);
  for (const char* payload : {"one", "", "three"}) {
    v1::EchoRequest request;
    request.set_payload(payload);
    stream.PushRequest(request);
  }
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  std::vector<std::string> payloads;
  for (const v1::EchoResponse& response : stream.Writes<v1::EchoResponse>()) {
    payloads.push_back(response.payload());
  }
  EXPECT_THAT(payloads, ElementsAre("one", "", "three"));
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

TEST_F(FileServiceImplTest, EchoStreamWithNoRequestsEndsOk) {
  ASSERT_NO_FATAL_FAILURE(Serve());
  FakeServerStream stream;
  stream.Start(echo_stream_);
  stream.CloseRequests();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_THAT(stream.status(), IsOk());
  EXPECT_EQ(stream.write_count(), 0u);
}

// A client that stops reading holds the second answer; cancelling ends the
// call without a third, and without breaking the one-op-per-direction rule.
TEST_F(FileServiceImplTest, EchoStreamEndsWhenCancelled) {
  ASSERT_NO_FATAL_FAILURE(Serve());
  FakeServerStream stream;
  stream.Start(echo_stream_);
  v1::EchoRequest request;
  request.set_payload("a");
  stream.PushRequest(request);
  ASSERT_TRUE(stream.WaitForWrites(1));
  stream.HoldWrites();
  request.set_payload("b");
  stream.PushRequest(request);
  request.set_payload("c");
  stream.PushRequest(request);
  ASSERT_TRUE(stream.WaitForWrites(2));
  stream.Cancel();
  ASSERT_TRUE(stream.WaitForDone());
  EXPECT_EQ(stream.write_count(), 2u);
  EXPECT_TRUE(stream.finished());
  EXPECT_THAT(stream.misuses(), IsEmpty());
}

// A unary call's context from the connection `peer`.
class PeerContext final : public rpc::ServerCallContext {
 public:
  explicit PeerContext(std::string peer) : peer_(std::move(peer)) {}
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const rpc::Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return peer_; }

 private:
  const std::string peer_;
  const rpc::Metadata metadata_;
};

// One ListDirectory call and where its status lands.
struct PendingList {
  explicit PendingList(std::string peer) : context(std::move(peer)) {}
  PeerContext context;
  v1::ListDirectoryRequest request;
  v1::ListDirectoryResponse response;
  absl::Notification done;
  absl::Status status;
};

// ListDirectory queues under the call's peer (its connection): the peer
// that has its share queued is refused with RESOURCE_EXHAUSTED as the
// call's status, while another peer's call is still accepted and answered.
// Had the calls shared one key, the other peer would be refused too.
TEST(FileServiceImplFairnessTest, ListDirectoryQueuesUnderTheCallsPeer) {
  TempDir tree;
  tree.WriteFile("f");
  absl::StatusOr<fileservice::ServedRoot> root =
      fileservice::ServedRoot::Open(tree.path());
  ASSERT_THAT(root.status(), IsOk());
  const fileservice::FileServiceCore core(*std::move(root), {});
  base::BlockingExecutor executor(
      {/*threads=*/1, /*max_queued=*/100, /*max_queued_per_key=*/2});
  FileServiceImpl impl(&core, &executor);

  // Hold the only thread so that the calls below stay queued.
  absl::Notification blocker_running;
  absl::Notification release;
  ASSERT_THAT(executor.Submit("blocker",
                              [&] {
                                blocker_running.Notify();
                                release.WaitForNotificationWithTimeout(
                                    dualrpc_testing::kWaitTimeout);
                              }),
              IsOk());
  ASSERT_TRUE(blocker_running.WaitForNotificationWithTimeout(
      dualrpc_testing::kWaitTimeout));

  std::vector<std::unique_ptr<PendingList>> calls;
  for (const char* peer : {"ipv4:127.0.0.1:1001", "ipv4:127.0.0.1:1001",
                           "ipv4:127.0.0.1:1001", "ipv4:127.0.0.1:1002"}) {
    auto call = std::make_unique<PendingList>(peer);
    PendingList* const raw = call.get();
    impl.ListDirectory(&raw->context, &raw->request, &raw->response,
                       [raw](absl::Status status) {
                         raw->status = std::move(status);
                         raw->done.Notify();
                       });
    calls.push_back(std::move(call));
  }
  // The third call of the first peer is refused at once, before anything
  // ran; the others wait for the thread.
  ASSERT_TRUE(calls[2]->done.HasBeenNotified());
  EXPECT_THAT(calls[2]->status,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "too many queued blocking calls on this connection"));
  EXPECT_FALSE(calls[3]->done.HasBeenNotified());
  release.Notify();
  for (int i : {0, 1, 3}) {
    ASSERT_TRUE(calls[i]->done.WaitForNotificationWithTimeout(
        dualrpc_testing::kWaitTimeout))
        << i;
    EXPECT_THAT(calls[i]->status, IsOk()) << i;
    EXPECT_EQ(calls[i]->response.entries_size(), 1) << i;
  }
  EXPECT_EQ(executor.GetStats().rejected_per_key_total, 1);
}

}  // namespace
}  // namespace dualrpc::service
