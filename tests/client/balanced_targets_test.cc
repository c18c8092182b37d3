// Targets naming several servers or a DNS name (decision D1), through
// client::CreateChannel, against three real dualrpc-server processes whose
// roots each hold one file, backend-<i>: a ListDirectory of "" says which
// server answered. gRPC balances with its own resolver and round_robin;
// raw with raw::BalancedChannel (tests/raw/balanced_channel_test.cc has its
// failure cases).

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"
#include "testing/wait.h"

namespace dualrpc::client {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::kWaitTimeout;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::StartServer;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

constexpr int kServers = 3;

absl::StatusOr<std::string> WhoAnswers(rpc::Channel& channel) {
  v1::ListDirectoryRequest request;
  v1::ListDirectoryResponse response;
  rpc::CallOptions options;
  options.timeout = absl::Seconds(10);
  absl::Notification done;
  absl::Status status;
  channel.StartUnaryCall("/dualrpc.v1.FileService/ListDirectory", request,
                         &response, options, [&](absl::Status result) {
                           status = std::move(result);
                           done.Notify();
                         });
  if (!done.WaitForNotificationWithTimeout(options.timeout + kWaitTimeout)) {
    return absl::InternalError("the call never completed");
  }
  if (!status.ok()) return status;
  if (response.entries_size() != 1) {
    return absl::InternalError(response.DebugString());
  }
  return response.entries(0).name();
}

// How many of `calls` calls each server answered; a failed call fails the
// test.
std::map<std::string, int> Spread(rpc::Channel& channel, int calls) {
  std::map<std::string, int> answers;
  for (int call = 0; call < calls; ++call) {
    absl::StatusOr<std::string> who = WhoAnswers(channel);
    EXPECT_THAT(who, IsOk()) << "call " << call;
    if (who.ok()) ++answers[*who];
  }
  return answers;
}

std::string PortOf(const std::string& host_port) {
  return host_port.substr(host_port.rfind(':') + 1);
}

class BalancedTargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kServers; ++i) {
      roots_[i].WriteFile(absl::StrCat("backend-", i), "");
      absl::StatusOr<std::unique_ptr<ServerProcess>> server =
          StartServer(roots_[i].path());
      ASSERT_THAT(server, IsOk());
      servers_[i] = *std::move(server);
      for (const char* transport : {"grpc", "raw"}) {
        absl::StatusOr<std::string> address = servers_[i]->Address(transport);
        ASSERT_THAT(address, IsOk());
        addresses_[transport].push_back(*address);
      }
    }
  }

  std::shared_ptr<rpc::Channel> Channel(const std::string& target,
                                        ChannelFactoryOptions options = {}) {
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        CreateChannel(target, options);
    EXPECT_THAT(channel, IsOk()) << target;
    return channel.ok() ? *channel : nullptr;
  }

  std::string List(const char* transport) {
    return absl::StrJoin(addresses_[transport], ",");
  }

  TempDir roots_[kServers];
  std::unique_ptr<ServerProcess> servers_[kServers];
  std::map<std::string, std::vector<std::string>> addresses_;
};

// gRPC's round_robin, not pick_first: every server takes calls.
TEST_F(BalancedTargetsTest, GrpcListSpreadsCallsOverEveryServer) {
  ChannelFactoryOptions options;
  options.connect_first = true;
  for (const std::string& target : {"grpc://" + List("grpc"), List("grpc")}) {
    std::shared_ptr<rpc::Channel> channel = Channel(target, options);
    ASSERT_NE(channel, nullptr);
    // A subchannel joins the rotation once its health Watch says SERVING
    // (round_robin with health checking), which may be after the channel
    // itself is ready: calls go on until every server answered, bounded.
    std::map<std::string, int> answers;
    dualrpc_testing::Eventually([&] {
      for (const auto& [who, count] : Spread(*channel, 10)) {
        answers[who] += count;
      }
      return answers.size() == static_cast<std::size_t>(kServers);
    });
    for (int i = 0; i < kServers; ++i) {
      EXPECT_GT(answers.count(absl::StrCat("backend-", i)), 0u)
          << target << ": backend-" << i << " took no call";
    }
  }
}

TEST_F(BalancedTargetsTest, GrpcDnsTargetIsGrpcsOwnResolver) {
  const std::string target =
      absl::StrCat("dns:///localhost:", PortOf(addresses_["grpc"][1]));
  std::shared_ptr<rpc::Channel> channel = Channel(target);
  ASSERT_NE(channel, nullptr);
  EXPECT_THAT(WhoAnswers(*channel), IsOkAndHolds("backend-1"));
}

TEST_F(BalancedTargetsTest, RawListGoesRoundRobin) {
  std::shared_ptr<rpc::Channel> channel = Channel("raw://" + List("raw"));
  ASSERT_NE(channel, nullptr);
  for (int call = 0; call < 9; ++call) {
    EXPECT_THAT(WhoAnswers(*channel),
                IsOkAndHolds(absl::StrCat("backend-", call % kServers)));
  }
}

TEST_F(BalancedTargetsTest, RawDnsTargetWorks) {
  const std::string target =
      absl::StrCat("raw+dns:///localhost:", PortOf(addresses_["raw"][2]));
  std::shared_ptr<rpc::Channel> channel = Channel(target);
  ASSERT_NE(channel, nullptr);
  for (int call = 0; call < 4; ++call) {
    EXPECT_THAT(WhoAnswers(*channel), IsOkAndHolds("backend-2"));
  }
}

// With TLS, a list is checked against its first HOST (decision D1) unless
// a server name is given: a server whose certificate names only
// other.example fails on 127.0.0.1 and answers with -servername.
TEST(BalancedTlsTargetsTest, ListsAreCheckedAgainstTheFirstHostOrServerName) {
  const absl::StatusOr<dualrpc_testing::TestCerts>& certs =
      dualrpc_testing::ProcessTestCerts();
  ASSERT_THAT(certs, IsOk());
  TempDir root;
  root.WriteFile("backend-tls", "");
  for (const auto& [cert, key, server_name, ok] :
       {std::tuple<std::string, std::string, std::string, bool>{
            certs->server_cert, certs->server_key, "", true},
        {certs->otherhost_cert, certs->otherhost_key, "", false},
        {certs->otherhost_cert, certs->otherhost_key, "other.example",
         true}}) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = StartServer(
        root.path(), {"--tls_cert=" + cert, "--tls_key=" + key});
    ASSERT_THAT(server, IsOk());
    absl::StatusOr<std::string> grpc = (*server)->Address("grpc");
    absl::StatusOr<std::string> raw = (*server)->Address("raw");
    ASSERT_THAT(grpc, IsOk());
    ASSERT_THAT(raw, IsOk());
    ChannelFactoryOptions options;
    options.tls.ca_file = certs->ca_cert;
    options.tls.server_name = server_name;
    for (const std::string& target :
         {absl::StrCat("grpcs://", *grpc, ",", *grpc),
          absl::StrCat("raws://", *raw, ",", *raw)}) {
      absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
          CreateChannel(target, options);
      ASSERT_THAT(channel, IsOk()) << target;
      if (ok) {
        EXPECT_THAT(WhoAnswers(**channel), IsOkAndHolds("backend-tls"))
            << target << " " << server_name;
      } else {
        EXPECT_THAT(WhoAnswers(**channel),
                    StatusIs(absl::StatusCode::kUnavailable))
            << target;
      }
    }
  }
}

TEST(CreateBalancedChannelTest, BalancingOptionsOutOfRangeAreInvalidArgument) {
  ChannelFactoryOptions no_interval;
  no_interval.health_check_interval = absl::ZeroDuration();
  ChannelFactoryOptions no_timeout;
  no_timeout.health_check_timeout = absl::Seconds(-1);
  ChannelFactoryOptions no_backoff;
  no_backoff.backoff_initial = absl::ZeroDuration();
  ChannelFactoryOptions max_below_initial;
  max_below_initial.backoff_max = absl::Milliseconds(500);
  for (const ChannelFactoryOptions& options :
       {no_interval, no_timeout, no_backoff, max_below_initial}) {
    for (const char* target :
         {"raw://127.0.0.1:1,127.0.0.1:2", "grpc://127.0.0.1:1,127.0.0.1:2"}) {
      EXPECT_THAT(CreateChannel(target, options),
                  StatusIs(absl::StatusCode::kInvalidArgument))
          << target;
    }
  }
}

TEST(CreateBalancedChannelTest, EveryListAndDnsFormGivesAChannel) {
  for (const char* target :
       {"grpc://127.0.0.1:1,127.0.0.1:2", "127.0.0.1:1,127.0.0.1:2",
        "grpc://[::1]:1,[::1]:2", "dns:///localhost:1",
        "raw://127.0.0.1:1,localhost:2", "raw+dns:///localhost:1"}) {
    EXPECT_THAT(CreateChannel(target), IsOk()) << target;
  }
  // Names on a gRPC list: gRPC's ipv4:/ipv6: targets take literals only.
  EXPECT_THAT(CreateChannel("grpc://localhost:1,localhost:2"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("use dns:///NAME:PORT")));
  // raw+dns resolves when the channel is made.
  EXPECT_THAT(CreateChannel("raw+dns:///unresolvable.invalid:1"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("unresolvable.invalid")));
}

}  // namespace
}  // namespace dualrpc::client
