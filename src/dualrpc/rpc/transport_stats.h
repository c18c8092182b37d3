#ifndef DUALRPC_RPC_TRANSPORT_STATS_H_
#define DUALRPC_RPC_TRANSPORT_STATS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dualrpc::rpc {

// Connection-level figures of one transport (or of the shared port), read
// by the metrics layer when it is scraped: the "one hook per transport" of
// issue 13. Per-call figures come from the interceptor stage instead
// (rpc/interceptor.h), the same for every transport.
//
// A transport keeps these in relaxed atomics updated where the event
// already happens (accept, close, refusal, handshake end), so keeping them
// costs no call anything; a snapshot is taken by any thread at any time and
// is consistent per field, not across fields. Totals only grow.
// The reasons of TransportStats::refused_total, as they appear there (and
// in the metric's `reason` label).
inline constexpr char kRefusedMaxConnections[] = "max_connections";
inline constexpr char kRefusedDraining[] = "draining";
inline constexpr char kRefusedMaxHandshakes[] = "max_handshakes";
inline constexpr char kRefusedHandshakeTimeout[] = "handshake_timeout";
inline constexpr char kRefusedMaxPending[] = "max_pending";
inline constexpr char kRefusedEvicted[] = "evicted";
inline constexpr char kRefusedDetectTimeout[] = "detect_timeout";
inline constexpr char kRefusedMaxDetecting[] = "max_detecting";
inline constexpr char kRefusedUnknownProtocol[] = "unknown_protocol";

struct TransportStats {
  // Connections open now (for raw: accepted or adopted and not yet closed;
  // TLS connections count from accept, handshake or not).
  std::int64_t connections_open = 0;
  // Connections accepted or adopted since start.
  std::int64_t connections_accepted_total = 0;
  // Connections closed at accept or adoption because of a configured limit
  // or state, by reason: "max_connections", "draining", "max_handshakes"
  // (closed to admit a newer handshake), "handshake_timeout", "max_pending"
  // (closed before its preface to admit a newer one), "evicted" (closed to
  // admit a newcomer at the connection limit),
  // "detect_timeout", "max_detecting", "unknown_protocol". Reasons with a
  // zero count may be left out; a reason's name never changes.
  std::vector<std::pair<std::string, std::int64_t>> refused_total;
  // TLS handshakes finished, and those that failed (any cause: bad
  // certificate, not TLS, timeout). Zero without TLS.
  std::int64_t tls_handshakes_total = 0;
  std::int64_t tls_handshake_failures_total = 0;
  // A port that only detects the protocol and hands each connection to the
  // transport that speaks it (the shared port, transport "listen"): the
  // connections handed over so far, by the transport that took them, "raw"
  // or "grpc". Empty for a transport that serves its connections itself.
  std::vector<std::pair<std::string, std::int64_t>> handed_over_total;
};

}  // namespace dualrpc::rpc

#endif  // DUALRPC_RPC_TRANSPORT_STATS_H_
