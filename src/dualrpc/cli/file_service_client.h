#ifndef DUALRPC_CLI_FILE_SERVICE_CLIENT_H_
#define DUALRPC_CLI_FILE_SERVICE_CLIENT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/rpc/channel.h"
#include "dualrpc/v1/file_service.pb.h"

namespace dualrpc::cli {

// dualrpc.v1.FileService as the CLI sees it, whatever the transport. Each
// call blocks until it completes or `timeout` (measured from the call;
// absl::InfiniteDuration() for none) expires, and returns the server's status
// code and message unchanged. Not required to be thread-safe.
class FileServiceClient {
 public:
  virtual ~FileServiceClient() = default;

  virtual absl::StatusOr<v1::EchoResponse> Echo(const v1::EchoRequest& request,
                                                absl::Duration timeout) = 0;
  virtual absl::StatusOr<v1::ListDirectoryResponse> ListDirectory(
      const v1::ListDirectoryRequest& request, absl::Duration timeout) = 0;
};

// Largest response the CLI accepts, on either transport. Above the 4 MiB
// channel default (kDefaultMaxResponseBytes) because a full ListDirectory page
// (10000 entries with long symlink targets) or a large echo can legitimately
// exceed it over gRPC. On raw:// the server's message limit (4 MiB unless
// configured otherwise) still bounds what it sends.
inline constexpr int kMaxResponseBytes = 64 * 1024 * 1024;

// How the command line tunes a channel (grpcurl's flags); see
// client::ChannelFactoryOptions for what each means on each transport.
struct ChannelSettings {
  // -connect-timeout; unset for the channel factory's default.
  std::optional<absl::Duration> connect_timeout;
  // -keepalive-time; InfiniteDuration() for none.
  absl::Duration keepalive_time = absl::InfiniteDuration();
  // -authority; empty for none (a raw:// target refuses one). Over TLS it
  // is also the name the server's certificate must match, unless
  // -servername names another (grpcurl's rule).
  std::string authority;
  // -cacert, -cert, -key, -insecure, -servername: grpcs:// and raws://.
  client::TlsChannelOptions tls;
  // -plaintext: a plaintext target only; with a TLS flag or a grpcs:// or
  // raws:// target it is a usage error.
  bool plaintext = false;
};

// The target MakeChannel connects to: a bare HOST:PORT given with a TLS
// setting means grpcs://HOST:PORT (grpcurl's `-cacert ca.pem host:port`);
// everything else is `target` as given. INVALID_ARGUMENT for -plaintext
// with a TLS setting or a TLS target.
absl::StatusOr<std::string> EffectiveTarget(absl::string_view target,
                                            const ChannelSettings& settings);

// The channel factory's options for `settings` (-cacert ... map one to one
// to ChannelFactoryOptions::tls, whatever the transport).
client::ChannelFactoryOptions ChannelOptionsFor(
    const ChannelSettings& settings);

// The one place a --target value (any form of client/target.h) becomes a
// channel, through dualrpc::CreateChannel(EffectiveTarget(target),
// ChannelOptionsFor(settings)), accepting responses up to
// kMaxResponseBytes. Connection happens on the first call, so a reachable
// server is not needed here; an unreachable one makes calls fail with
// UNAVAILABLE. Bad targets and settings are INVALID_ARGUMENT.
absl::StatusOr<std::shared_ptr<rpc::Channel>> MakeChannel(
    absl::string_view target, const ChannelSettings& settings = {});

// A FileServiceClient over MakeChannel(target); fails as MakeChannel does.
absl::StatusOr<std::unique_ptr<FileServiceClient>> MakeClient(
    absl::string_view target);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_FILE_SERVICE_CLIENT_H_
