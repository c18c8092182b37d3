#include "dualrpc/cli/channel_file_service_client.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/channel.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;

// Completes every call inline with a scripted status and response, and
// records what the call carried.
class FakeChannel final : public rpc::Channel {
 public:
  void Reply(absl::Status status,
             const google::protobuf::MessageLite& response) {
    status_ = std::move(status);
    response_bytes_ = response.SerializeAsString();
  }

  rpc::ClientStream* NewStream(absl::string_view, rpc::MethodKind,
                               const rpc::CallOptions&,
                               rpc::ClientStreamReactor* reactor) override {
    return rpc::NewFailedStream(
        reactor, absl::UnimplementedError("this fake has no streaming calls"));
  }
  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const ::dualrpc::rpc::CallOptions& options,
                      rpc::UnaryDone done) override {
    last_method = std::string(method);
    last_request_bytes = request.SerializeAsString();
    last_timeout = options.timeout;
    if (status_.ok() && !response->ParseFromString(response_bytes_)) {
      std::move(done)(absl::InternalError("fake: bad scripted response"));
      return;
    }
    std::move(done)(status_);
  }

  std::string last_method;
  std::string last_request_bytes;
  absl::Duration last_timeout = absl::ZeroDuration();

 private:
  absl::Status status_;
  std::string response_bytes_;
};

class ChannelFileServiceClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeChannel> channel_ = std::make_shared<FakeChannel>();
  std::unique_ptr<FileServiceClient> client_ =
      MakeChannelFileServiceClient(channel_);
};

TEST_F(ChannelFileServiceClientTest, EchoCallsTheMethodWithTheTimeout) {
  v1::EchoResponse scripted;
  scripted.set_payload("back");
  channel_->Reply(absl::OkStatus(), scripted);
  v1::EchoRequest request;
  request.set_payload("there");

  absl::StatusOr<v1::EchoResponse> response =
      client_->Echo(request, absl::Seconds(3));

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->payload(), "back");
  EXPECT_EQ(channel_->last_method, "/dualrpc.v1.FileService/Echo");
  EXPECT_EQ(channel_->last_request_bytes, request.SerializeAsString());
  EXPECT_EQ(channel_->last_timeout, absl::Seconds(3));
}

TEST_F(ChannelFileServiceClientTest, ListDirectoryCallsTheMethod) {
  v1::ListDirectoryResponse scripted;
  scripted.add_entries()->set_name("a");
  scripted.set_next_page_token("next");
  channel_->Reply(absl::OkStatus(), scripted);
  v1::ListDirectoryRequest request;
  request.set_path("docs");
  request.set_page_token("token");

  absl::StatusOr<v1::ListDirectoryResponse> response =
      client_->ListDirectory(request, absl::Milliseconds(250));

  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->entries_size(), 1);
  EXPECT_EQ(response->entries(0).name(), "a");
  EXPECT_EQ(response->next_page_token(), "next");
  EXPECT_EQ(channel_->last_method, "/dualrpc.v1.FileService/ListDirectory");
  EXPECT_EQ(channel_->last_request_bytes, request.SerializeAsString());
  EXPECT_EQ(channel_->last_timeout, absl::Milliseconds(250));
}

TEST_F(ChannelFileServiceClientTest, NoTimeoutMeansNoDeadline) {
  channel_->Reply(absl::OkStatus(), v1::EchoResponse());
  ASSERT_THAT(client_->Echo(v1::EchoRequest(), absl::InfiniteDuration()),
              IsOk());
  EXPECT_EQ(channel_->last_timeout, absl::InfiniteDuration());
}

TEST_F(ChannelFileServiceClientTest, FailuresPassThroughUnchanged) {
  channel_->Reply(absl::NotFoundError("no such directory: x"),
                  v1::ListDirectoryResponse());
  EXPECT_EQ(client_->ListDirectory(v1::ListDirectoryRequest(), absl::Seconds(1))
                .status(),
            absl::NotFoundError("no such directory: x"));
  channel_->Reply(absl::DeadlineExceededError("late"), v1::EchoResponse());
  EXPECT_EQ(client_->Echo(v1::EchoRequest(), absl::Seconds(1)).status(),
            absl::DeadlineExceededError("late"));
}

}  // namespace
}  // namespace dualrpc::cli
