#include "dualrpc/client/channel_factory.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/client/target.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/net/tls.h"
#include "dualrpc/raw/client/balanced_channel.h"
#include "dualrpc/raw/client/raw_channel.h"

namespace dualrpc::client {
namespace {

static_assert(kMaxChannelConnections <= grpc::kMaxGrpcChannelCount,
              "every transport must accept kMaxChannelConnections");

// Checked here rather than by each transport so that a bad option fails the
// same way whatever the scheme.
absl::Status ValidateOptions(const ChannelFactoryOptions& options) {
  if (options.connections < 1 || options.connections > kMaxChannelConnections) {
    return absl::InvalidArgumentError(
        absl::StrCat("connections ", options.connections, " is outside 1..",
                     kMaxChannelConnections));
  }
  if (options.max_response_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_response_bytes ", options.max_response_bytes, " is not positive"));
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_timeout must be positive");
  }
  if (options.keepalive_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive_time must be positive");
  }
  if (options.health_check_interval <= absl::ZeroDuration() ||
      options.health_check_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "health_check_interval and health_check_timeout must be positive");
  }
  if (options.backoff_initial <= absl::ZeroDuration() ||
      options.backoff_max < options.backoff_initial) {
    return absl::InvalidArgumentError(
        "backoff_initial must be positive and at most backoff_max");
  }
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }
  return absl::OkStatus();
}

std::string StripBrackets(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

absl::StatusOr<std::shared_ptr<rpc::Channel>> CreateGrpcChannel(
    const Target& target, const ChannelFactoryOptions& options) {
  grpc::GrpcChannelOptions grpc_options;
  grpc_options.channel_count = options.connections;
  grpc_options.max_receive_message_bytes = options.max_response_bytes;
  grpc_options.keepalive_time = options.keepalive_time;
  grpc_options.authority = options.authority;
  if (options.connect_first)
    grpc_options.connect_before = options.connect_timeout;
  if (target.balanced()) {
    // gRPC's resolver (ipv4:, ipv6:, dns:) and balancer, never ours.
    grpc_options.lb_policy = "round_robin";
    // An ipv4:/ipv6: list has no single authority of its own.
    if (!target.dns && grpc_options.authority.empty()) {
      grpc_options.authority = target.HostPort();
    }
  }
  if (target.tls) {
    grpc::GrpcChannelTlsOptions& tls = grpc_options.tls.emplace();
    tls.ca_file = options.tls.ca_file;
    tls.cert_file = options.tls.cert_file;
    tls.key_file = options.tls.key_file;
    tls.insecure_skip_verify = options.tls.insecure_skip_verify;
    tls.server_name = options.tls.server_name;
    // A list is checked against its first HOST (decision D1).
    if (tls.server_name.empty() && target.balanced() && !target.dns) {
      tls.server_name = StripBrackets(target.host);
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
      grpc::GrpcChannel::Create(target.TransportAddress(), grpc_options);
  if (!channel.ok()) return channel.status();
  return std::shared_ptr<rpc::Channel>(*std::move(channel));
}

absl::StatusOr<std::shared_ptr<rpc::Channel>> CreateRawChannel(
    const Target& target, const ChannelFactoryOptions& options) {
  if (!options.authority.empty()) {
    return absl::InvalidArgumentError(
        "raw:// has no authority to override (grpc:// only)");
  }
  raw::RawChannelOptions raw_options;
  raw_options.connections = options.connections;
  raw_options.limits.max_message_bytes =
      static_cast<uint32_t>(options.max_response_bytes);
  raw_options.connect_timeout = options.connect_timeout;
  if (target.tls) {
    net::TlsClientOptions tls;
    tls.ca_file = options.tls.ca_file;
    tls.cert_file = options.tls.cert_file;
    tls.key_file = options.tls.key_file;
    tls.insecure_skip_verify = options.tls.insecure_skip_verify;
    tls.server_name = options.tls.server_name;
    tls.alpn_protocols = {"dualrpc/1"};
    absl::StatusOr<std::shared_ptr<net::TlsClientContext>> context =
        net::TlsClientContext::Create(std::move(tls));
    if (!context.ok()) return context.status();
    raw_options.tls = *std::move(context);
    raw_options.tls_host = target.host;
  }
  if (target.balanced()) {
    raw::BalancedChannelOptions balanced;
    balanced.backend = std::move(raw_options);
    balanced.health_check_interval = options.health_check_interval;
    balanced.health_check_timeout = options.health_check_timeout;
    balanced.backoff_initial = options.backoff_initial;
    balanced.backoff_max = options.backoff_max;
    absl::StatusOr<std::shared_ptr<raw::BalancedChannel>> channel;
    if (target.dns) {
      channel = raw::BalancedChannel::CreateForDns(target.HostPort(),
                                                   std::move(balanced));
    } else {
      std::vector<std::string> addresses;
      for (const TargetAddress& address : target.addresses) {
        addresses.push_back(address.HostPort());
      }
      channel = raw::BalancedChannel::Create(std::move(addresses),
                                             std::move(balanced));
    }
    if (!channel.ok()) return channel.status();
    return std::shared_ptr<rpc::Channel>(*std::move(channel));
  }
  absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
      raw::RawChannel::Create(target.TransportAddress(), raw_options);
  if (!channel.ok()) return channel.status();
  return std::shared_ptr<rpc::Channel>(*std::move(channel));
}

}  // namespace

absl::StatusOr<std::shared_ptr<rpc::Channel>> CreateChannel(
    absl::string_view target, const ChannelFactoryOptions& options) {
  absl::StatusOr<Target> parsed = ParseTarget(target);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  if (!parsed->tls && !options.tls.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS options given for the plaintext target \"", target,
        "\" (use grpcs:// or raws://)"));
  }
  switch (parsed->scheme) {
    case TransportScheme::kGrpc:
      return CreateGrpcChannel(*parsed, options);
    case TransportScheme::kRaw:
      return CreateRawChannel(*parsed, options);
  }
  return absl::InternalError("unhandled transport scheme");
}

}  // namespace dualrpc::client
