#ifndef DUALRPC_NET_TCP_CONNECTION_H_
#define DUALRPC_NET_TCP_CONNECTION_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/event_loop.h"

namespace dualrpc::net {

// One accepted (or connected) TCP socket on one EventLoop: the bytes layer
// under a protocol, after muduo's TcpConnection. Owns the socket and both
// Buffers; the protocol (the Handler) owns this object. Loop thread only.
//
// Output is batched: the protocol appends to output() and calls
// ScheduleFlush(), and everything appended during one loop iteration leaves
// in one send() at its end. Backpressure: while more than high_water_mark
// bytes are unsent, the socket is not read.
//
// Every way a connection ends goes through Close(), once; the Handler hears
// of it in OnClosed() and must destroy this object later (EventLoop::Defer),
// never inside one of its callbacks.
class TcpConnection : private IoWatcher {
 public:
  enum class State {
    // Reading and writing.
    kConnected,
    // Our side is finished (CloseAfterFlush): output is flushed, then FIN is
    // sent; input is read and discarded until the peer's FIN or
    // close_timeout, so that closing does not reset the connection (which
    // could destroy the unread end of our output at the peer).
    kClosing,
    // Unregistered from the loop; waiting for the owner to destroy it.
    kClosed,
  };

  class Handler {
   public:
    // New bytes were appended to `input` (kConnected only). Consume what can
    // be consumed; the rest stays for the next call.
    virtual void OnInput(Buffer* input) = 0;
    // The peer sent FIN while kConnected. Reading has stopped; the handler
    // decides how to close.
    virtual void OnPeerEof() = 0;
    // The connection reached kClosed (once, whatever the path). `reason` is
    // OK for an orderly close.
    virtual void OnClosed(const absl::Status& reason) = 0;

   protected:
    ~Handler() = default;
  };

  struct Options {
    // Unsent output above which the socket is not read (backpressure).
    std::size_t high_water_mark = 8 * 1024 * 1024;
    // Longest time in kClosing before the socket is closed anyway.
    EventLoop::Clock::duration close_timeout = std::chrono::seconds(2);
  };

  // Buffers larger than this are freed when they become empty after a fill
  // within this size (Buffer::ReleaseIfIdle).
  static constexpr std::size_t kMaxIdleBufferBytes = 64 * 1024;

  TcpConnection(EventLoop* loop, base::ScopedFd socket, Options options,
                Handler* handler);
  // Unregisters the socket if it is still registered, and closes it.
  ~TcpConnection();

  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Registers for reading. On failure the connection is unusable: destroy it.
  absl::Status Start();

  State state() const { return state_; }

  // Append, then ScheduleFlush().
  Buffer* output() { return &output_; }
  std::size_t unsent_bytes() const { return output_.readable_bytes(); }

  // Sends the output at the end of this loop iteration.
  void ScheduleFlush();
  // Sends now if at least `threshold` bytes are waiting, so that a long read
  // burst does not accumulate unbounded output. May Close().
  void FlushIfOver(std::size_t threshold);

  // Graceful close: see State::kClosing. No-op unless kConnected.
  void CloseAfterFlush();
  // Immediate close: unsent output is dropped. No-op when kClosed.
  void Close(const absl::Status& reason);

 private:
  void OnIoEvents(std::uint32_t events) override;
  void HandleReadable();
  void Flush();
  // Recomputes EPOLLIN/EPOLLOUT interest and the half-close after output
  // changed or the state did.
  void AfterOutputChanged();
  void UpdateInterest();

  EventLoop* const loop_;
  const base::ScopedFd socket_;
  const Options options_;
  Handler* const handler_;

  State state_ = State::kConnected;
  Buffer input_;
  Buffer output_;
  std::uint32_t interest_ = 0;  // epoll events registered; 0 before Start.
  bool registered_ = false;
  bool flush_scheduled_ = false;
  // The last send did not take everything: wait for EPOLLOUT.
  bool waiting_for_writable_ = false;
  bool peer_eof_ = false;
  bool write_shut_down_ = false;
  EventLoop::TimerId close_timer_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_TCP_CONNECTION_H_
