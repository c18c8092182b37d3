#include "dualrpc/raw/client/raw_channel.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/raw/client/client_connection.h"
#include "dualrpc/raw/client/client_stream.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/rpc/metadata.h"

namespace dualrpc::raw {

namespace {

// The name a TLS server's certificate must match: the options' tls_host, or
// the host of HOST:PORT ("[::1]:80" -> "[::1]"; WrapClient strips the
// brackets). Empty for a unix socket.
std::string TlsHost(const ServerAddress& server,
                    const RawChannelOptions& options) {
  if (options.tls == nullptr || !options.tls_host.empty()) {
    return options.tls_host;
  }
  const std::string& host_port = server.host_port();
  if (absl::StartsWith(host_port, "unix:")) return "";
  const std::size_t colon = host_port.rfind(':');
  return colon == std::string::npos ? host_port : host_port.substr(0, colon);
}

}  // namespace

// Loop thread only, except loop(), which is thread-safe for Post().
class RawChannel::Core final : public StreamHost {
 public:
  Core(std::string host_port, const RawChannelOptions& options,
       std::unique_ptr<net::EventLoop> loop)
      : loop_(std::move(loop)),
        server_(std::move(host_port)),
        connection_options_{options.limits,
                            options.connect_timeout,
                            options.tls,
                            TlsHost(server_, options),
                            options.health_check_interval,
                            options.health_check_timeout,
                            options.observer},
        connections_(options.connections) {}

  net::EventLoop* loop() const { return loop_.get(); }
  const FrameLimits& limits() const { return connection_options_.limits; }
  bool shut_down() const override { return shut_down_; }
  ClientConnection* PickStreamConnection() override {
    return PickConnection();
  }
  void HoldDraining(RawClientStream* stream) override {
    draining_.insert(stream);
  }
  void ReleaseDraining(RawClientStream* stream) override {
    draining_.erase(stream);
  }
  ClientConnection* completing() const { return completing_; }

  // A call posted by StartUnaryCall. After Shutdown() it is destroyed
  // unsent, which completes it with CANCELLED.
  void Send(std::unique_ptr<OutgoingCall> call) {
    if (shut_down_) return;
    PickConnection()->Send(call.get());
  }

  // RawChannel::Connect, on the loop.
  void ConnectAll() {
    if (shut_down_) return;
    bool up = false;
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      ClientConnection* connection = ConnectionAt(i);
      connection->Connect();
      up = up || connection->ready();
    }
    // Already up: no connect, so no event, would tell the observer.
    if (up && connection_options_.observer != nullptr) {
      connection_options_.observer->OnConnectionReady();
    }
  }

  // The next connection round-robin, replacing one that got GOAWAY (kept in
  // retiring_ until its calls finish).
  ClientConnection* PickConnection() {
    return ConnectionAt(next_connection_++ % connections_.size());
  }

  ClientConnection* ConnectionAt(std::size_t index) {
    std::unique_ptr<ClientConnection>& connection = connections_[index];
    if (connection != nullptr && !connection->accepting()) {
      // Its calls finish on their own; the old connection is kept until then.
      retiring_.push_back(std::move(connection));
    }
    if (connection == nullptr) {
      connection = std::make_unique<ClientConnection>(
          loop_.get(), &server_, connection_options_, &completing_);
    }
    // Freed later: a retired connection may be on the stack below us (a
    // call started from the done of its last response or stream).
    for (std::unique_ptr<ClientConnection>& old : retiring_) {
      if (old->retired()) loop_->Defer([old = std::move(old)]() {});
    }
    retiring_.erase(std::remove(retiring_.begin(), retiring_.end(), nullptr),
                    retiring_.end());
    return connection.get();
  }

  // Fails every call in flight with CANCELLED (their dones run here), frees
  // the connections at the end of this iteration and stops the loop.
  void Shutdown() {
    shut_down_ = true;
    // The dones that Abort runs cannot add connections: after shut_down_,
    // StartUnaryCall and Send leave the lists alone.
    for (auto* list : {&connections_, &retiring_}) {
      for (auto& connection : *list) {
        if (connection != nullptr) {
          connection->Abort(absl::CancelledError("channel destroyed"));
        }
      }
    }
    // Streams that ended with responses unread are on no connection; their
    // OnDone runs in this iteration's deferred tasks.
    const std::vector<RawClientStream*> draining(draining_.begin(),
                                                 draining_.end());
    for (RawClientStream* stream : draining) stream->OnChannelShutdown();
    // Later: a connection may be on the stack below the done that is
    // destroying the channel.
    loop_->Defer([this]() {
      connections_.clear();
      retiring_.clear();
    });
    loop_->Quit();
  }

 private:
  // First: destroyed last, after the connections registered with it.
  const std::unique_ptr<net::EventLoop> loop_;
  ServerAddress server_;
  const ClientConnection::Options connection_options_;
  std::size_t next_connection_ = 0;
  std::vector<std::unique_ptr<ClientConnection>> connections_;
  // Connections that received GOAWAY, kept until their calls finish.
  std::vector<std::unique_ptr<ClientConnection>> retiring_;
  // The connection whose response's done is running, if any.
  ClientConnection* completing_ = nullptr;
  // Ended streams waiting for their reader (StreamHost::HoldDraining).
  absl::flat_hash_set<RawClientStream*> draining_;
  bool shut_down_ = false;
};

absl::StatusOr<std::shared_ptr<RawChannel>> RawChannel::Create(
    std::string host_port, RawChannelOptions options) {
  if (options.connections < 1) {
    return absl::InvalidArgumentError(
        "a channel needs at least one connection");
  }
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
      net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  return std::shared_ptr<RawChannel>(new RawChannel(
      std::make_shared<Core>(std::move(host_port), options, *std::move(loop))));
}

RawChannel::RawChannel(std::shared_ptr<Core> core) : core_(std::move(core)) {
  // The thread's own reference keeps the core alive until Run() returns,
  // also when the channel is destroyed on this thread; the core is then
  // freed here, on its loop's thread.
  io_thread_ = std::thread([core = core_]() mutable {
    core->loop()->Run();
    core.reset();
  });
}

RawChannel::~RawChannel() {
  if (io_thread_.get_id() == std::this_thread::get_id()) {
    // Inside one of this channel's dones: the loop's stack is below us.
    core_->Shutdown();
    io_thread_.detach();
    return;
  }
  Core* const core = core_.get();
  core->loop()->Post([core]() { core->Shutdown(); });
  io_thread_.join();
  // Posts racing with the destruction (a broken caller) are refused from
  // here on; their dones run with CANCELLED on the posting thread.
  core->loop()->CloseMailbox();
}

void RawChannel::StartUnaryCall(absl::string_view method,
                                const google::protobuf::MessageLite& request,
                                google::protobuf::MessageLite* response,
                                const rpc::CallOptions& options,
                                rpc::UnaryDone done) {
  if (options.timeout <= absl::ZeroDuration()) {
    std::move(done)(
        absl::DeadlineExceededError("deadline exceeded before the call"));
    return;
  }
  if (absl::Status valid = rpc::ValidateMetadata(options.metadata);
      !valid.ok()) {
    std::move(done)(valid);
    return;
  }
  const bool has_timeout = options.timeout != absl::InfiniteDuration();
  const std::uint64_t timeout_micros =
      has_timeout
          ? std::max<int64_t>(1, absl::ToInt64Microseconds(options.timeout))
          : 0;
  const CallTarget target{
      response, options.response_metadata,
      has_timeout ? absl::Now() + options.timeout : absl::InfiniteFuture()};
  Core* const core = core_.get();
  net::EventLoop* const loop = core->loop();
  // A call started on the I/O thread itself (typically from another call's
  // done, as pipelined callers do) skips the mailbox when its connection is
  // up. Otherwise it is posted: connecting, or failing, inline could recurse
  // into a caller that retries from its done.
  if (loop->IsInLoopThread() && !core->shut_down()) {
    // From a response's done: the connection that response came on, so that
    // a closed loop keeps each connection's share of calls and every
    // follow-up leaves in that connection's one send per loop iteration
    // (round-robin here would scatter them over every connection's send).
    ClientConnection* completing = core->completing();
    ClientConnection* connection =
        completing != nullptr && completing->connected()
            ? completing
            : core->PickConnection();
    if (connection->connected()) {
      connection->SendNow(method, timeout_micros, options.metadata, request,
                          target, std::move(done));
      return;
    }
  }
  auto call = std::make_unique<OutgoingCall>();
  absl::Status encoded =
      AppendRequestFrame(&call->frame, /*call_id=*/0, method, timeout_micros,
                         options.metadata, request, core->limits());
  if (!encoded.ok()) {
    std::move(done)(encoded);
    return;
  }
  call->target = target;
  call->done = std::move(done);
  // A refused post (only once the channel is being destroyed, which callers
  // must not race with) destroys the call, which completes it (CANCELLED).
  loop->Post([core, call = std::move(call)]() mutable {
    core->Send(std::move(call));
  });
}

void RawChannel::Connect() {
  Core* const core = core_.get();
  core->loop()->Post([core]() { core->ConnectAll(); });
}

rpc::ClientStream* RawChannel::NewStream(absl::string_view method,
                                         rpc::MethodKind kind,
                                         const rpc::CallOptions& options,
                                         rpc::ClientStreamReactor* reactor) {
  if (kind == rpc::MethodKind::kUnary) {
    return rpc::NewFailedStream(
        reactor, absl::InvalidArgumentError(
                     "a unary method is called with StartUnaryCall"));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return rpc::NewFailedStream(
        reactor,
        absl::DeadlineExceededError("deadline exceeded before the call"));
  }
  if (absl::Status valid = rpc::ValidateMetadata(options.metadata);
      !valid.ok()) {
    return rpc::NewFailedStream(reactor, std::move(valid));
  }
  Core* const core = core_.get();
  return RawClientStream::Create(core->loop()->mailbox(), core->loop(), core,
                                 std::string(method), kind, options,
                                 core->limits(), reactor);
}

}  // namespace dualrpc::raw
