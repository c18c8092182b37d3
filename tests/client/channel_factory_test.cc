#include "dualrpc/client/channel_factory.h"

#include <memory>

#include "absl/status/status.h"
#include "dualrpc/client/target.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::client {
namespace {

using ::dualrpc_testing::IsOk;

using ::dualrpc_testing::StatusIs;

using ::testing::HasSubstr;

// Port 1 on loopback: nothing listens there, and nothing may be dialled,
// because creating a channel does not connect.
TEST(CreateChannelTest, EachSchemeGivesAChannelWithoutConnecting) {
  for (const char* target :
       {"grpc://127.0.0.1:1", "raw://127.0.0.1:1", "grpc://[::1]:1",
        "raw://[::1]:1", "raw://unresolvable.invalid:1", "127.0.0.1:1",
        "[::1]:1", "unix:///nonexistent/socket", "unix:relative.sock",
        "raw+unix:///nonexistent/socket", "raw+unix:relative.sock"}) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        CreateChannel(target);
    ASSERT_THAT(channel, IsOk()) << target;
    EXPECT_NE(*channel, nullptr) << target;
  }
}

TEST(CreateChannelTest, SeveralConnectionsAndALargerLimitAreAccepted) {
  ChannelFactoryOptions options;
  options.connections = kMaxChannelConnections;
  options.max_response_bytes = 64 * 1024 * 1024;
  for (const char* target : {"grpc://127.0.0.1:1", "raw://127.0.0.1:1"}) {
    EXPECT_THAT(CreateChannel(target, options), IsOk()) << target;
  }
}

TEST(CreateChannelTest, BadTargetIsInvalidArgumentWithTheParsersMessage) {
  for (const char* target :
       {"", "garbage", "127.0.0.1", "grpc://h", "raw://h:0", "raw://:1",
        "http://h:1", "unix:", "unix://host/socket",
        "raw+unix:", "raw+grpc://h:1", "RAW://h:1"}) {
    const absl::Status status = CreateChannel(target).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << target;
    EXPECT_EQ(status.message(), ParseTarget(target).status().message())
        << target;
  }
}

TEST(CreateChannelTest, UnknownSchemeIsNamed) {
  const absl::Status status = CreateChannel("http://h:1").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("unsupported target scheme"));
}

TEST(CreateChannelTest, TlsOptionsOnAPlaintextTargetAreRefused) {
  ChannelFactoryOptions options;
  options.tls.ca_file = "/nonexistent/ca.pem";
  for (const char* target : {"grpc://127.0.0.1:1", "127.0.0.1:1",
                             "raw://127.0.0.1:1", "raw+unix:///tmp/x.sock"}) {
    EXPECT_THAT(CreateChannel(target, options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("grpcs:// or raws://")))
        << target;
  }
}

TEST(CreateChannelTest, ClientCertificateNeedsItsKey) {
  for (bool give_cert : {true, false}) {
    ChannelFactoryOptions options;
    (give_cert ? options.tls.cert_file : options.tls.key_file) = "/x.pem";
    for (const char* target : {"grpcs://127.0.0.1:1", "raws://127.0.0.1:1"}) {
      EXPECT_THAT(CreateChannel(target, options),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("certificate needs its key")))
          << target;
    }
  }
}

TEST(CreateChannelTest, OptionsOutOfRangeAreInvalidArgumentOnEveryScheme) {
  ChannelFactoryOptions no_connections;
  no_connections.connections = 0;
  ChannelFactoryOptions too_many_connections;
  too_many_connections.connections = kMaxChannelConnections + 1;
  ChannelFactoryOptions no_response_bytes;
  no_response_bytes.max_response_bytes = 0;
  ChannelFactoryOptions no_connect_timeout;
  no_connect_timeout.connect_timeout = absl::ZeroDuration();
  for (const char* target :
       {"grpc://h:1", "raw://h:1", "unix:///s", "raw+unix:///s"}) {
    for (const ChannelFactoryOptions& options :
         {no_connections, too_many_connections, no_response_bytes,
          no_connect_timeout}) {
      EXPECT_EQ(CreateChannel(target, options).status().code(),
                absl::StatusCode::kInvalidArgument)
          << target;
    }
  }
}

// grpcs:// connects lazily too; its files are read here, so a missing one
// is INVALID_ARGUMENT naming it rather than failing every call later.
TEST(CreateChannelTest, GrpcsGivesAChannelAndChecksItsFiles) {
  ChannelFactoryOptions insecure;
  insecure.tls.insecure_skip_verify = true;
  EXPECT_THAT(CreateChannel("grpcs://127.0.0.1:1", insecure), IsOk());
  EXPECT_THAT(CreateChannel("grpcs://[::1]:1"), IsOk());  // system roots

  ChannelFactoryOptions missing_ca;
  missing_ca.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(CreateChannel("grpcs://127.0.0.1:1", missing_ca),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/ca.pem")));
  ChannelFactoryOptions cert_without_key;
  cert_without_key.tls.cert_file = "/nonexistent/client.pem";
  EXPECT_THAT(CreateChannel("grpcs://127.0.0.1:1", cert_without_key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs its key")));
}

}  // namespace
}  // namespace dualrpc::client
