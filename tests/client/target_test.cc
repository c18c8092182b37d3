#include "dualrpc/client/target.h"

#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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
       {"http://h:1", "GRPC://h:1", "://h:1", "raw+grpc://h:1",
        "https://h:1", "rawtls://h:1", "http+dns:///h:1", "DNS+raw:///h:1"}) {
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

// Every form of decision D1 that names several servers or a DNS name.
TEST(ParseTargetTest, ListsAndDnsForms) {
  struct Case {
    const char* text;
    TransportScheme scheme;
    bool tls;
    bool dns;
    std::vector<std::string> addresses;
    // What the transport is given (gRPC's own target syntax for gRPC).
    const char* transport_address;
  };
  const TransportScheme kGrpc = TransportScheme::kGrpc;
  const TransportScheme kRaw = TransportScheme::kRaw;
  for (const Case& c : std::vector<Case>{
           {"grpc://127.0.0.1:1,127.0.0.2:2", kGrpc, false, false,
            {"127.0.0.1:1", "127.0.0.2:2"}, "ipv4:127.0.0.1:1,127.0.0.2:2"},
           {"127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", kGrpc, false, false,
            {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
            "ipv4:127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"},
           {"grpc://[::1]:1,[::2]:2", kGrpc, false, false,
            {"[::1]:1", "[::2]:2"}, "ipv6:[::1]:1,[::2]:2"},
           {"grpcs://10.0.0.1:443,10.0.0.2:443", kGrpc, true, false,
            {"10.0.0.1:443", "10.0.0.2:443"},
            "ipv4:10.0.0.1:443,10.0.0.2:443"},
           // Duplicates weigh.
           {"grpc://127.0.0.1:1,127.0.0.1:1", kGrpc, false, false,
            {"127.0.0.1:1", "127.0.0.1:1"}, "ipv4:127.0.0.1:1,127.0.0.1:1"},
           {"raw://a:1,b:2", kRaw, false, false, {"a:1", "b:2"}, "a:1"},
           {"raw://127.0.0.1:1,[::1]:2,h.example:3", kRaw, false, false,
            {"127.0.0.1:1", "[::1]:2", "h.example:3"}, "127.0.0.1:1"},
           {"raws://a:1,a:1", kRaw, true, false, {"a:1", "a:1"}, "a:1"},
           {"dns:///localhost:50051", kGrpc, false, true,
            {"localhost:50051"}, "dns:///localhost:50051"},
           {"grpcs+dns:///svc.example:443", kGrpc, true, true,
            {"svc.example:443"}, "dns:///svc.example:443"},
           {"raw+dns:///localhost:7", kRaw, false, true, {"localhost:7"},
            "localhost:7"},
           {"raws+dns:///svc.example:7", kRaw, true, true,
            {"svc.example:7"}, "svc.example:7"},
           // One address stays what it was.
           {"raw://a:1", kRaw, false, false, {"a:1"}, "a:1"},
           {"grpc://a:1", kGrpc, false, false, {"a:1"}, "a:1"},
       }) {
    absl::StatusOr<Target> target = ParseTarget(c.text);
    ASSERT_THAT(target, IsOk()) << c.text;
    EXPECT_EQ(target->scheme, c.scheme) << c.text;
    EXPECT_EQ(target->tls, c.tls) << c.text;
    EXPECT_EQ(target->dns, c.dns) << c.text;
    std::vector<std::string> addresses;
    for (const TargetAddress& address : target->addresses) {
      addresses.push_back(address.HostPort());
    }
    EXPECT_EQ(addresses, c.addresses) << c.text;
    // host and port keep meaning the first address.
    EXPECT_EQ(target->HostPort(), c.addresses[0]) << c.text;
    EXPECT_EQ(target->balanced(), c.dns || c.addresses.size() > 1) << c.text;
    EXPECT_EQ(target->TransportAddress(), c.transport_address) << c.text;
  }
}

TEST(ParseTargetTest, SixtyFourAddressesAreTheLimit) {
  std::string list = "raw://";
  for (int i = 0; i < kMaxTargetAddresses; ++i) {
    absl::StrAppend(&list, i == 0 ? "" : ",", "h:", i + 1);
  }
  absl::StatusOr<Target> target = ParseTarget(list);
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(target->addresses.size(), kMaxTargetAddresses);
  EXPECT_THAT(ParseTarget(list + ",h:99"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 64 addresses")));
}

TEST(ParseTargetTest, ListAndDnsErrors) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"raw://a:1,,b:2", "empty entry"},
           {"raw://a:1,", "empty entry"},
           {",a:1", "empty entry"},
           {"raw://a:1,b", "no port"},
           {"raw://a:1,b:0", "port must be"},
           {"raw://a:1,b/c:2", "malformed host"},
           // gRPC's ipv4:/ipv6: lists take literals of one family only.
           {"grpc://a:1,b:2",
            "a list of addresses on grpc:// must be IP literals of one "
            "family; use dns:///NAME:PORT"},
           {"127.0.0.1:1,localhost:2", "must be IP literals of one family"},
           {"grpc://127.0.0.1:1,[::1]:2", "must be IP literals of one family"},
           {"grpcs://h:1,h:2", "must be IP literals of one family"},
           {"dns://8.8.8.8/x:1", "DNS server authority is not supported"},
           {"raw+dns://8.8.8.8/x:1", "DNS server authority is not supported"},
           {"dns:///x:1,y:2", "a dns target names one NAME:PORT"},
           {"dns:///x", "no port"},
           {"dns:///", "no host"},
           {"dns://", "dns:///NAME:PORT"},
           {"grpc+dns:///x:1", "dns:///NAME:PORT"},
           {"raw+dns:///x:0", "port must be"},
       }) {
    const absl::Status status = ParseTarget(c.text).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(c.message)))
        << c.text;
    // Every refusal names the accepted forms, the new ones included.
    EXPECT_THAT(status.message(), HasSubstr("raw+dns:///NAME:PORT")) << c.text;
  }
}

}  // namespace
}  // namespace dualrpc::client
