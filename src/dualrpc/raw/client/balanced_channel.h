#ifndef DUALRPC_RAW_CLIENT_BALANCED_CHANNEL_H_
#define DUALRPC_RAW_CLIENT_BALANCED_CHANNEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::raw {

// How a BalancedChannel treats its backends (issue 13, decision D2). The
// defaults are D2's (gRPC's connection-backoff parameters); tests shorten
// them.
struct BalancedChannelOptions {
  // Every backend's channel. Its observer is the balancer's own, and its
  // health check is set from the two fields below.
  RawChannelOptions backend;
  // A PING on a connection that read nothing for this long; no PONG within
  // health_check_timeout closes it and ejects the backend.
  absl::Duration health_check_interval = absl::Seconds(5);
  absl::Duration health_check_timeout = absl::Seconds(2);
  // An ejected backend is tried again after backoff_initial, then each
  // retry waits backoff_multiplier times longer, up to backoff_max, each
  // wait moved by up to ±backoff_jitter of itself. A successful connect
  // resets it to backoff_initial.
  absl::Duration backoff_initial = absl::Seconds(1);
  double backoff_multiplier = 1.6;
  double backoff_jitter = 0.2;
  absl::Duration backoff_max = absl::Seconds(120);
  // raw+dns: how often the name is resolved again (and at once when every
  // backend is ejected).
  absl::Duration resolve_interval = absl::Seconds(30);
};

// A raw-protocol rpc::Channel over several servers (D2): one RawChannel per
// backend, calls (unary or streaming: a stream is one call) spread
// round-robin over the backends that are not ejected.
//
// A backend is ejected when a connect fails, when a connection closes or
// fails with calls on it, when its health check goes unanswered, or at
// once when it sends GOAWAY (its calls in progress still finish there).
// An ejected backend is reconnected after a backoff with jitter and taken
// back when its connection is up (server preface read). Backends that were
// never connected are picked and connect lazily, as a RawChannel does.
//
// A unary call that never reached a server (its connect failed, or a
// GOAWAY's last_call_id shows it was not taken) is sent again on another
// backend, at most once per backend, within its deadline; one that was sent
// and then lost its connection fails with UNAVAILABLE (methods are not
// known to be idempotent). Streams are not retried. When no backend is
// left, the call fails at once with UNAVAILABLE "no raw backend is
// available (N ejected): <last error>" (gRPC's wait_for_ready=false).
//
// For retries a unary call keeps a copy of its request (only when there is
// more than one backend to retry on).
//
// Threading: thread-safe. Dones and reactor callbacks run on the backends'
// I/O threads (RawChannel's contract); the balancer's timers (reconnects,
// re-resolution) run on a thread of its own.
//
// Destruction keeps rpc::Channel's contract: it destroys every backend's
// RawChannel, whose calls end as RawChannel's destructor says; calls are no
// longer retried once it has begun.
class BalancedChannel final : public rpc::Channel {
 public:
  // One backend per "HOST:PORT" in `addresses` (1..64; duplicates weigh).
  static absl::StatusOr<std::shared_ptr<BalancedChannel>> Create(
      std::vector<std::string> addresses, BalancedChannelOptions options = {});
  // raw+dns: one backend per address "NAME:PORT" resolves to (getaddrinfo,
  // A and AAAA, duplicates removed), resolved here (an unresolvable name is
  // UNAVAILABLE) and again every resolve_interval. Backends whose address
  // went away are no longer picked.
  static absl::StatusOr<std::shared_ptr<BalancedChannel>> CreateForDns(
      std::string name_port, BalancedChannelOptions options = {});
  ~BalancedChannel() override;

  BalancedChannel(const BalancedChannel&) = delete;
  BalancedChannel& operator=(const BalancedChannel&) = delete;

  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options,
                      rpc::UnaryDone done) override;
  rpc::ClientStream* NewStream(absl::string_view method, rpc::MethodKind kind,
                               const rpc::CallOptions& options,
                               rpc::ClientStreamReactor* reactor) override;

  // The backends' addresses, in pick order, and how many are ejected now
  // (for tests and diagnostics).
  std::vector<std::string> BackendAddresses() const;
  int EjectedCount() const;

  // Defined in the .cc; shared with the calls in flight.
  class State;

 private:
  explicit BalancedChannel(std::shared_ptr<State> state);

  const std::shared_ptr<State> state_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CLIENT_BALANCED_CHANNEL_H_
