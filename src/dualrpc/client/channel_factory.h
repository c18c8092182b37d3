#ifndef DUALRPC_CLIENT_CHANNEL_FACTORY_H_
#define DUALRPC_CLIENT_CHANNEL_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::client {

// Upper bound on ChannelFactoryOptions::connections.
inline constexpr int kMaxChannelConnections = 64;

// Largest response a channel accepts unless told otherwise: gRPC's default
// receive limit, which is also the raw protocol's message limit
// (docs/PROTOCOL.md §4.3).
inline constexpr int kDefaultMaxResponseBytes = 4 * 1024 * 1024;

// TLS settings of a grpcs:// or raws:// target, the same on both
// transports (grpcurl's -cacert, -cert, -key, -insecure, -servername).
struct TlsChannelOptions {
  // PEM CA bundle the server certificate must verify against; empty: the
  // system's trust store.
  std::string ca_file;
  // PEM client certificate and key (mTLS); both or neither.
  std::string cert_file;
  std::string key_file;
  // Do not verify the server's certificate (still encrypted).
  bool insecure_skip_verify = false;
  // The name the server certificate must match instead of the target's
  // host (and the SNI sent).
  std::string server_name;

  bool empty() const {
    return ca_file.empty() && cert_file.empty() && key_file.empty() &&
           !insecure_skip_verify && server_name.empty();
  }
};

// Settings that mean the same on every transport.
struct ChannelFactoryOptions {
  // Connections (TCP or unix) that calls are spread over, round-robin
  // (1..kMaxChannelConnections).
  int connections = 1;
  // Largest response message accepted; a larger one fails its call with
  // RESOURCE_EXHAUSTED. On raw:// it is also the largest request the channel
  // sends (the raw protocol has one message limit per direction pair).
  // The server's own limits still apply.
  int max_response_bytes = kDefaultMaxResponseBytes;
  // raw: longest wait for one connect (connections open on first use).
  // gRPC connects under each call's deadline unless `connect_first`.
  absl::Duration connect_timeout = absl::Seconds(5);
  // grpc:// only: CreateChannel connects before it returns, within
  // connect_timeout, and is UNAVAILABLE if it cannot (grpcurl's blocking
  // dial, -connect-timeout). The raw channel stays lazy: its connects are
  // bounded by connect_timeout when calls open them.
  bool connect_first = false;
  // grpc:// only: interval of HTTP/2 keepalive PINGs on idle connections;
  // InfiniteDuration() sends none. The raw channel sends no PINGs, so on
  // raw:// this is accepted and has no effect.
  absl::Duration keepalive_time = absl::InfiniteDuration();
  // grpc:// only: the :authority of every call instead of HOST:PORT; empty
  // for HOST:PORT. The raw protocol has no authority: a raw:// target with
  // one is INVALID_ARGUMENT rather than silently routed as if it had none.
  std::string authority;
  // grpcs:// and raws:// only: what to trust and what to present. Set on a
  // plaintext target, it is INVALID_ARGUMENT (a user who names a CA expects
  // TLS, not a silent plaintext connection). A failed handshake fails the
  // calls with UNAVAILABLE saying why (untrusted, expired, wrong host, not
  // TLS at all).
  TlsChannelOptions tls;

  // Several raw servers (raw://H1:P1,H2:P2, raw+dns:///NAME:PORT, and the
  // raws:// forms; docs/ARCHITECTURE.md "Client-side load balancing"). On
  // gRPC targets gRPC's own round_robin policy balances, and these have no
  // effect. A PING is sent on a connection that read nothing for
  // health_check_interval; no PONG within health_check_timeout ejects
  // that server. An ejected server is tried again after backoff_initial,
  // each retry 1.6 times later (±20 % jitter) up to backoff_max.
  absl::Duration health_check_interval = absl::Seconds(5);
  absl::Duration health_check_timeout = absl::Seconds(2);
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Seconds(120);
};

// The one place a target becomes a Channel (every form in target.h):
//   grpc://HOST:PORT, HOST:PORT, unix:///PATH, unix:PATH
//                             GrpcChannel (plaintext HTTP/2)
//   raw://HOST:PORT, raw+unix:///PATH, raw+unix:PATH
//                             raw::RawChannel (docs/PROTOCOL.md)
//   grpcs://HOST:PORT         GrpcChannel over TLS (grpc++'s credentials)
//   raws://HOST:PORT          raw::RawChannel over TLS (net/tls.h)
//   grpc://A:P,B:Q, A:P,B:Q, dns:///NAME:PORT, grpcs://..., grpcs+dns:///...
//                             one GrpcChannel on gRPC's ipv4:/ipv6:/dns:
//                             target with the round_robin policy; with TLS
//                             the certificate must match the first HOST
//                             unless tls.server_name is set
//   raw://A:P,B:Q, raw+dns:///NAME:PORT, raws://..., raws+dns:///...
//                             raw::BalancedChannel, one RawChannel per server
//                             (a raw+dns name is resolved here: UNAVAILABLE
//                             if it does not resolve)
// HOST may be a bracketed IPv6 literal. Nothing connects here: connections
// open on the first call, so an unreachable server shows as UNAVAILABLE
// calls. A malformed target or unknown scheme is INVALID_ARGUMENT with
// ParseTarget's message; options out of range are INVALID_ARGUMENT too.
// The channel is thread-safe and shared by whoever holds it.
absl::StatusOr<std::shared_ptr<rpc::Channel>> CreateChannel(
    absl::string_view target, const ChannelFactoryOptions& options = {});

}  // namespace dualrpc::client

#endif  // DUALRPC_CLIENT_CHANNEL_FACTORY_H_
