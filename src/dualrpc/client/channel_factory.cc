#include "dualrpc/client/channel_factory.h"

#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/client/target.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/net/tls.h"
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
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }
  return absl::OkStatus();
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
  if (parsed->tls && parsed->scheme == TransportScheme::kGrpc) {
    // TODO(issue 11): grpcs:// in CreateGrpcChannel.
    return absl::UnimplementedError("TLS targets are not implemented yet");
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
