#ifndef DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_
#define DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/channel.h"

namespace dualrpc::raw {

struct RawChannelOptions {
  // TCP connections to the server; calls are spread round-robin, and many
  // calls run at once on each (multiplexed by call id).
  int connections = 1;
  // What this client sends and accepts (docs/PROTOCOL.md §4.3).
  FrameLimits limits;
  // Longest wait for a TCP connect.
  absl::Duration connect_timeout = absl::Seconds(5);
};

// The client side of the framed protocol, as a dualrpc::Channel: generated
// clients call a raw server through it exactly as through gRPC.
//
// Threading: one I/O thread (an EventLoop) owns every connection and all
// per-call state; StartUnaryCall serializes the request on the calling
// thread and posts it to the loop, which assigns the call id and batches
// frames (every request posted during one loop iteration leaves in one
// send). Calls started on the I/O thread itself (from a done) go straight
// to an open connection's output buffer, batched the same way: the
// connection whose response is being completed, else the next one
// round-robin. `done` callbacks run on the I/O thread: they must not block
// on another call of this channel.
//
// Connections are opened lazily and reopened after a failure (the calls that
// were on a lost connection fail with UNAVAILABLE; later calls reconnect).
// After a GOAWAY the connection finishes its calls and new calls go to a
// fresh connection. Deadlines are enforced locally (DEADLINE_EXCEEDED, then
// CANCEL to the server) as well as by the server.
class RawChannel final : public rpc::Channel {
 public:
  // `host_port`: "HOST:PORT". Does not connect yet.
  static absl::StatusOr<std::shared_ptr<RawChannel>> Create(
      std::string host_port, RawChannelOptions options = {});
  // Fails calls still in flight with CANCELLED and joins the I/O thread.
  ~RawChannel() override;

  void StartUnaryCall(absl::string_view method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      const rpc::CallOptions& options, rpc::UnaryDone done) override;

  class Connection;  // Loop-owned; defined in the .cc.
  struct Outgoing;

 private:
  RawChannel(std::string host_port, RawChannelOptions options,
                std::unique_ptr<net::EventLoop> loop);
  // Loop thread.
  void Send(std::unique_ptr<Outgoing> call);
  // Loop thread. The next connection round-robin, replacing one that got
  // GOAWAY (kept in retiring_ until its calls finish).
  Connection* PickConnection();

  const std::string host_port_;
  const RawChannelOptions options_;
  std::unique_ptr<net::EventLoop> loop_;
  std::thread io_thread_;
  std::atomic<unsigned> next_connection_{0};
  // Loop thread only.
  std::vector<std::unique_ptr<Connection>> connections_;
  // Connections that received GOAWAY, kept until their calls finish.
  std::vector<std::unique_ptr<Connection>> retiring_;
  // The connection whose response's done is running, if any.
  Connection* completing_ = nullptr;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_CLIENT_RAW_CHANNEL_H_
