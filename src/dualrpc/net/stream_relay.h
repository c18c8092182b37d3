#ifndef DUALRPC_NET_STREAM_RELAY_H_
#define DUALRPC_NET_STREAM_RELAY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/transfer.h"

namespace dualrpc::net {

// Copies bytes both ways between two ByteStreams on one EventLoop, knowing
// no protocol: what the shared port puts between a TLS client and the
// plaintext socketpair it hands to gRPC (grpc 1.51 adopts only insecure
// fds). Owns both streams. Loop thread only.
//
// Per direction there is one Buffer and no other copy: a read appends to
// it, a write consumes from it. Reads go on until the source would block
// (so a TLS stream holding decrypted records never stalls behind a quiet
// fd) or until `high_water_bytes` are waiting, and then what was read
// leaves in one write. Backpressure: while a direction's buffer is at the
// high-water mark its source is not read, so a slow reader on one side
// slows the writer on the other instead of growing memory.
//
// Half-close passes through: a source's end of stream becomes, once its
// buffer has been written, ShutdownWrite() on the other stream (FIN, or a
// TLS close_notify). When both directions have ended the relay closes with
// OK. Once one has ended, the other gets `half_close_timeout`. Any error
// (a read, a write, EPOLLERR) on either stream closes the relay, and with
// it both streams: a close of either side closes both.
//
// Every path ends in Close(), once; the owner hears of it through
// `on_closed` and destroys the relay later (EventLoop::Defer), never inside
// that callback. The streams' fds are closed when the relay is destroyed.
class StreamRelay {
 public:
  struct Options {
    // Unwritten bytes per direction at which its source is no longer read.
    std::size_t high_water_bytes = 256 * 1024;
    // How long the other direction may go on after one has ended.
    EventLoop::Clock::duration half_close_timeout = std::chrono::seconds(30);
  };

  // `reason` is OK when both directions ended in order.
  using ClosedCallback = absl::AnyInvocable<void(const absl::Status& reason)>;

  // Neither stream may be null; their fds are not yet registered with
  // `loop`.
  StreamRelay(EventLoop* loop, std::unique_ptr<ByteStream> first,
              std::unique_ptr<ByteStream> second, Options options,
              ClosedCallback on_closed);
  // Unregisters what is still registered, then destroys both streams.
  ~StreamRelay();

  StreamRelay(const StreamRelay&) = delete;
  StreamRelay& operator=(const StreamRelay&) = delete;

  // Starts relaying, beginning with bytes the streams may already hold (a
  // TLS stream's first records). Any failure, registering with the loop
  // included, closes the relay: on_closed may run before Start returns.
  // Call once.
  void Start();

  // Closes now; unwritten bytes are dropped. on_closed runs (unless it
  // already has). No-op once closed.
  void Close(const absl::Status& reason);

  bool closed() const { return closed_; }

 private:
  // One of the two streams and its registration.
  struct Side : IoWatcher {
    void OnIoEvents(std::uint32_t events) override;

    StreamRelay* relay = nullptr;
    std::unique_ptr<ByteStream> stream;
    std::uint32_t interest = 0;  // Registered epoll events; 0: unregistered.
  };

  // Bytes read from `from` and waiting to be written to `to`.
  struct Direction {
    Side* from = nullptr;
    Side* to = nullptr;
    Buffer buffer;
    // What the source's last read that moved nothing waits for.
    Readiness read_wait = Readiness::kReadable;
    // Set while a write left bytes unsent: what it waits for.
    bool write_blocked = false;
    Readiness write_wait = Readiness::kWritable;
    bool source_eof = false;
    // ShutdownWrite() has been passed on to `to`.
    bool ended = false;
  };

  void OnSideEvents(Side* side, std::uint32_t events);
  // Reads `direction`'s source while it may, then writes what is waiting.
  // False once the relay has closed.
  bool Pump(Direction* direction);
  bool Flush(Direction* direction);
  bool Reading(const Direction& direction) const;
  void AfterDirectionEnded();
  void UpdateInterest(Side* side);

  EventLoop* const loop_;
  const Options options_;
  ClosedCallback on_closed_;
  Side sides_[2];
  // directions_[i] reads sides_[i] and writes sides_[1 - i].
  Direction directions_[2];
  bool started_ = false;
  bool closed_ = false;
  EventLoop::TimerId half_close_timer_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_STREAM_RELAY_H_
