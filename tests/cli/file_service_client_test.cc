#include "dualrpc/cli/file_service_client.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;

ChannelSettings WithCaFile() {
  ChannelSettings settings;
  settings.tls.ca_file = "ca.pem";
  return settings;
}

TEST(MakeClientTest, EverySchemeNeedsNoServer) {
  for (const char* target : {"grpc://h:1", "raw://h:1"}) {
    absl::StatusOr<std::unique_ptr<FileServiceClient>> client =
        MakeClient(target);
    ASSERT_THAT(client, IsOk()) << target;
    EXPECT_NE(*client, nullptr) << target;
  }
}

TEST(MakeClientTest, BadTargetsAreInvalidArgument) {
  EXPECT_THAT(MakeClient("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeClient("http://h:1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeClient("raw://h"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// grpcurl's `-cacert ca.pem host:port`: a bare HOST:PORT with any TLS
// setting is grpcs://; every explicit scheme stays what it names.
TEST(EffectiveTargetTest, BareHostPortWithTlsIsGrpcs) {
  EXPECT_THAT(EffectiveTarget("localhost:1", WithCaFile()),
              IsOkAndHolds("grpcs://localhost:1"));
  EXPECT_THAT(EffectiveTarget("[::1]:1", WithCaFile()),
              IsOkAndHolds("grpcs://[::1]:1"));
  ChannelSettings insecure;
  insecure.tls.insecure_skip_verify = true;
  EXPECT_THAT(EffectiveTarget("h:1", insecure), IsOkAndHolds("grpcs://h:1"));
  ChannelSettings server_name;
  server_name.tls.server_name = "other";
  EXPECT_THAT(EffectiveTarget("h:1", server_name),
              IsOkAndHolds("grpcs://h:1"));

  EXPECT_THAT(EffectiveTarget("localhost:1", {}), IsOkAndHolds("localhost:1"));
  for (const char* target :
       {"grpc://h:1", "raw://h:1", "grpcs://h:1", "raws://h:1", "unix:///s"}) {
    EXPECT_THAT(EffectiveTarget(target, WithCaFile()), IsOkAndHolds(target));
  }
}

// Several servers (decision D1): a bare list is gRPC as a bare HOST:PORT
// is, dns:/// is plaintext unless a TLS flag is given.
TEST(EffectiveTargetTest, ListsAndDnsTakeTlsAsTheirBareForms) {
  EXPECT_THAT(EffectiveTarget("127.0.0.1:1,127.0.0.1:2", WithCaFile()),
              IsOkAndHolds("grpcs://127.0.0.1:1,127.0.0.1:2"));
  EXPECT_THAT(EffectiveTarget("dns:///localhost:1", WithCaFile()),
              IsOkAndHolds("grpcs+dns:///localhost:1"));
  EXPECT_THAT(EffectiveTarget("dns:///localhost:1", {}),
              IsOkAndHolds("dns:///localhost:1"));
  for (const char* target :
       {"raw://a:1,b:2", "raws://a:1,b:2", "raw+dns:///h:1", "grpcs+dns:///h:1",
        "raws+dns:///h:1"}) {
    EXPECT_THAT(EffectiveTarget(target, WithCaFile()), IsOkAndHolds(target));
  }
  EXPECT_THAT(EffectiveTarget("grpc://a:1,b:2", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("use dns:///NAME:PORT")));
}

TEST(EffectiveTargetTest, PlaintextWithTlsIsInvalidArgument) {
  ChannelSettings plaintext;
  plaintext.plaintext = true;
  EXPECT_THAT(EffectiveTarget("h:1", plaintext), IsOkAndHolds("h:1"));
  EXPECT_THAT(EffectiveTarget("grpcs://h:1", plaintext),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("-plaintext given for the TLS target")));
  EXPECT_THAT(EffectiveTarget("raws://h:1", plaintext),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ChannelSettings both = WithCaFile();
  both.plaintext = true;
  EXPECT_THAT(EffectiveTarget("h:1", both),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("-plaintext cannot be combined")));
}

// The TLS flags reach ChannelFactoryOptions::tls unchanged, whatever the
// transport (raws:// uses the same options once the raw TLS channel lands).
TEST(ChannelOptionsForTest, TlsFlagsMapOneToOne) {
  ChannelSettings settings;
  settings.tls.ca_file = "ca.pem";
  settings.tls.cert_file = "client.pem";
  settings.tls.key_file = "client.key";
  settings.tls.insecure_skip_verify = true;
  settings.tls.server_name = "other.example";
  settings.authority = "vhost";
  client::ChannelFactoryOptions options = ChannelOptionsFor(settings);
  EXPECT_EQ(options.tls.ca_file, "ca.pem");
  EXPECT_EQ(options.tls.cert_file, "client.pem");
  EXPECT_EQ(options.tls.key_file, "client.key");
  EXPECT_TRUE(options.tls.insecure_skip_verify);
  EXPECT_EQ(options.tls.server_name, "other.example");
  EXPECT_EQ(options.authority, "vhost");
  EXPECT_TRUE(ChannelOptionsFor({}).tls.empty());
  EXPECT_THAT(EffectiveTarget("raws://h:1", settings),
              IsOkAndHolds("raws://h:1"));
}

TEST(MakeChannelTest, GrpcsNeedsNoServerAndChecksItsFiles) {
  ChannelSettings settings;
  settings.tls.insecure_skip_verify = true;
  EXPECT_THAT(MakeChannel("grpcs://h:1", settings), IsOk());
  EXPECT_THAT(MakeChannel("h:1", settings), IsOk());
  EXPECT_THAT(MakeChannel("grpcs://h:1", WithCaFile()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot read CA file ca.pem")));
  EXPECT_THAT(MakeChannel("grpc://h:1", WithCaFile()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("use grpcs:// or raws://")));
}

}  // namespace
}  // namespace dualrpc::cli
