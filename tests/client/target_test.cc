#include "dualrpc/client/target.h"

#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::client {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::testing::HasSubstr;

TEST(ParseTargetTest, Grpc) {
  absl::StatusOr<Target> target = ParseTarget("grpc://h:1");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->scheme, TransportScheme::kGrpc);
  EXPECT_EQ(target->host, "h");
  EXPECT_EQ(target->port, 1);
  EXPECT_FALSE(target->is_unix());
  EXPECT_EQ(target->HostPort(), "h:1");
  EXPECT_EQ(target->TransportAddress(), "h:1");
}

TEST(ParseTargetTest, Raw) {
  absl::StatusOr<Target> target = ParseTarget("raw://127.0.0.1:65535");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->scheme, TransportScheme::kRaw);
  EXPECT_EQ(target->HostPort(), "127.0.0.1:65535");
  EXPECT_EQ(target->TransportAddress(), "127.0.0.1:65535");
}

TEST(ParseTargetTest, TlsSchemes) {
  absl::StatusOr<Target> grpcs = ParseTarget("grpcs://localhost:443");
  ASSERT_THAT(grpcs, IsOk());
  EXPECT_EQ(grpcs->scheme, TransportScheme::kGrpc);
  EXPECT_TRUE(grpcs->tls);
  EXPECT_EQ(grpcs->TransportAddress(), "localhost:443");
  absl::StatusOr<Target> raws = ParseTarget("raws://[::1]:7");
  ASSERT_THAT(raws, IsOk());
  EXPECT_EQ(raws->scheme, TransportScheme::kRaw);
  EXPECT_TRUE(raws->tls);
  EXPECT_EQ(raws->HostPort(), "[::1]:7");
  for (const char* plaintext :
       {"grpc://h:1", "raw://h:1", "h:1", "unix:///s", "raw+unix:s"}) {
    absl::StatusOr<Target> target = ParseTarget(plaintext);
    ASSERT_THAT(target, IsOk()) << plaintext;
    EXPECT_FALSE(target->tls) << plaintext;
  }
  // TLS over a unix socket is not a target form.
  EXPECT_THAT(ParseTarget("raws+unix:///s"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseTargetTest, BracketedIpv6) {
  absl::StatusOr<Target> target = ParseTarget("grpc://[::1]:50051");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->host, "[::1]");
  EXPECT_EQ(target->port, 50051);
  EXPECT_EQ(target->HostPort(), "[::1]:50051");
}

// grpcurl's form: no scheme means gRPC.
TEST(ParseTargetTest, PlainHostPortIsGrpc) {
  for (const auto& [text, host, port] :
       {std::tuple<const char*, const char*, int>{"localhost:50051",
                                                  "localhost", 50051},
        {"127.0.0.1:1", "127.0.0.1", 1},
        {"[::1]:50051", "[::1]", 50051},
        {"example.com:443", "example.com", 443}}) {
    absl::StatusOr<Target> target = ParseTarget(text);
    ASSERT_THAT(target, IsOk()) << text;
    EXPECT_EQ(target->scheme, TransportScheme::kGrpc) << text;
    EXPECT_EQ(target->host, host) << text;
    EXPECT_EQ(target->port, port) << text;
    EXPECT_EQ(target->TransportAddress(), text) << text;
  }
}

TEST(ParseTargetTest, UnixIsGrpcOverAUnixSocket) {
  struct Case {
    const char* text;
    const char* path;
    // What gRPC's CreateChannel is given.
    const char* transport_address;
  };
  for (const Case& c :
       {Case{"unix:///run/d.sock", "/run/d.sock", "unix:///run/d.sock"},
        Case{"unix:/run/d.sock", "/run/d.sock", "unix:///run/d.sock"},
        Case{"unix:d.sock", "d.sock", "unix:d.sock"},
        Case{"unix:sub/d.sock", "sub/d.sock", "unix:sub/d.sock"}}) {
    absl::StatusOr<Target> target = ParseTarget(c.text);
    ASSERT_THAT(target, IsOk()) << c.text;
    EXPECT_EQ(target->scheme, TransportScheme::kGrpc) << c.text;
    EXPECT_TRUE(target->is_unix()) << c.text;
    EXPECT_EQ(target->unix_path, c.path) << c.text;
    EXPECT_EQ(target->TransportAddress(), c.transport_address) << c.text;
  }
}

TEST(ParseTargetTest, RawPlusUnixIsRawOverAUnixSocket) {
  absl::StatusOr<Target> absolute = ParseTarget("raw+unix:///run/d.sock");
  ASSERT_THAT(absolute, IsOk());
  EXPECT_EQ(absolute->scheme, TransportScheme::kRaw);
  EXPECT_EQ(absolute->unix_path, "/run/d.sock");
  // dualrpc::net reads the same unix spelling as gRPC.
  EXPECT_EQ(absolute->TransportAddress(), "unix:///run/d.sock");

  absl::StatusOr<Target> relative = ParseTarget("raw+unix:d.sock");
  ASSERT_THAT(relative, IsOk());
  EXPECT_EQ(relative->scheme, TransportScheme::kRaw);
  EXPECT_EQ(relative->unix_path, "d.sock");
  EXPECT_EQ(relative->TransportAddress(), "unix:d.sock");
}

TEST(ParseTargetTest, UnknownSchemeIsInvalidArgument) {
  for (const char* uri :
       {"http://h:1", "GRPC://h:1", "://h:1", "dns:///h:1", "raw+grpc://h:1",
        "https://h:1", "rawtls://h:1"}) {
    EXPECT_THAT(ParseTarget(uri),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("unsupported target scheme")))
        << uri;
  }
}

TEST(ParseTargetTest, RefusalsNameTheAcceptedForms) {
  for (const char* uri : {"garbage", "http://h:1", "unix:", "raw+unix:"}) {
    const absl::Status status = ParseTarget(uri).status();
    for (const char* form :
         {"HOST:PORT", "grpc://HOST:PORT", "raw://HOST:PORT", "grpcs://HOST:PORT",
          "raws://HOST:PORT", "unix:///PATH", "raw+unix:///PATH"}) {
      EXPECT_THAT(status.message(), HasSubstr(form)) << uri;
    }
  }
}

TEST(ParseTargetTest, GarbageIsInvalidArgument) {
  const std::string too_long = "unix:///" + std::string(200, 'x');
  for (const std::string& uri : std::vector<std::string>{"",
                                                         "garbage",
                                                         "h",
                                                         "h:",
                                                         ":1",
                                                         "h:0",
                                                         "h:x",
                                                         "grpc://",
                                                         "grpc://h",
                                                         "grpc://h:",
                                                         "grpc://:1",
                                                         "grpc://h:0",
                                                         "grpc://h:65536",
                                                         "grpc://h:+1",
                                                         "grpc://h:-1",
                                                         "grpc://h: 1",
                                                         "grpc://h:1x",
                                                         "grpc://h:1/path",
                                                         "grpc://a:b:1",
                                                         "grpc://::1:1",
                                                         "grpc://[]:1",
                                                         "grpc://h/x:1",
                                                         "::1:1",
                                                         "[::1]",
                                                         "unix:",
                                                         "unix://",
                                                         "unix://host/s",
                                                         "unix://host",
                                                         "raw+unix:",
                                                         "raw+unix://",
                                                         "raw+unix://host/s",
                                                         "raw+",
                                                         "raw+h:1",
                                                         too_long,
                                                         "raw+" + too_long}) {
    EXPECT_THAT(ParseTarget(uri), StatusIs(absl::StatusCode::kInvalidArgument))
        << uri;
  }
}

}  // namespace
}  // namespace dualrpc::client
