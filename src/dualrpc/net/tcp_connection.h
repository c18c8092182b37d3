#ifndef DUALRPC_NET_TCP_CONNECTION_H_
#define DUALRPC_NET_TCP_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/memory_budget.h"
#include "dualrpc/net/transfer.h"

namespace dualrpc::net {

// One accepted (or connected) byte stream on one EventLoop: the bytes layer
// under a protocol, after muduo's TcpConnection. Owns its ByteStream (and so
// the socket) and both Buffers; the protocol (the Handler) owns this object.
// Loop thread only.
//
// All I/O goes through the ByteStream, so a protocol runs unchanged over a
// plain socket (PlainTcpStream) or a wrapper such as TLS: the connection
// only follows the readiness each read or write asks for
// (Transfer::resume_on).
//
// Output is batched: the protocol appends to output() and calls
// ScheduleFlush(), and everything appended during one loop iteration leaves
// in one write at its end. Backpressure: while unsent output plus the
// owner's reservations (set_reserved_output_bytes: output that work already
// accepted may still produce) exceed high_water_mark, or while the shared
// MemoryBudget is over, the stream is not read, and the handler may leave
// input unconsumed (ShouldHoldInput); that input is delivered again once
// the condition clears.
//
// Every way a connection ends goes through Close(), once; the Handler hears
// of it in OnClosed() and must destroy this object later (EventLoop::Defer),
// never inside one of its callbacks.
class TcpConnection final : private IoWatcher {
 public:
  enum class State {
    // Reading and writing.
    kConnected,
    // Our side is finished (CloseAfterFlush): output is flushed, then the
    // write side is shut down; input is read and discarded until the peer's
    // end of stream or close_timeout, so that closing does not reset the
    // connection (which could destroy the unread end of our output at the
    // peer).
    kClosing,
    // Unregistered from the loop; waiting for the owner to destroy it.
    kClosed,
  };

  class Handler {
   public:
    // New bytes were appended to `input` (kConnected only). Consume what can
    // be consumed; the rest stays for the next call. While ShouldHoldInput()
    // the handler may stop consuming even complete messages: this is called
    // again, with what is left, once it no longer holds.
    virtual void OnInput(Buffer* input) = 0;
    // The peer ended its stream while kConnected. Reading has stopped; the
    // handler decides how to close.
    virtual void OnPeerEof() = 0;
    // The connection reached kClosed (once, whatever the path). `reason` is
    // OK for an orderly close.
    virtual void OnClosed(const absl::Status& reason) = 0;

   protected:
    ~Handler() = default;
  };

  struct Options {
    // Unsent output above which the stream is not read (backpressure).
    std::size_t high_water_mark = 8 * 1024 * 1024;
    // Longest time in kClosing before the connection is closed anyway.
    EventLoop::Clock::duration close_timeout = std::chrono::seconds(2);
    // Not owned; outlives the connection. Null: no shared budget. The
    // connection reports the storage of both its buffers to it (capacity,
    // not just readable bytes: what the process holds) and is not read
    // while it is over.
    MemoryBudget* budget = nullptr;
  };

  // Buffers larger than this are freed when they become empty after a fill
  // within this size (Buffer::ReleaseIfIdle).
  static constexpr std::size_t kMaxIdleBufferBytes = 64 * 1024;

  // `stream` must not be null; its fd is not yet registered with `loop`.
  TcpConnection(EventLoop* loop, std::unique_ptr<ByteStream> stream,
                Options options, Handler* handler);
  // A plain socket: the stream is a PlainTcpStream over `socket`.
  TcpConnection(EventLoop* loop, base::ScopedFd socket, Options options,
                Handler* handler);
  // Unregisters the stream's fd if it is still registered, then destroys the
  // stream (which closes the fd).
  ~TcpConnection();

  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Registers for reading. On failure the connection is unusable: destroy it.
  absl::Status Start();

  State state() const { return state_; }
  // What the connection reads and writes (for what it knows of the peer:
  // ByteStream::PeerCertificateSubject). Not for I/O.
  const ByteStream& stream() const { return *stream_; }

  // Append, then ScheduleFlush().
  Buffer* output() { return &output_; }
  std::size_t unsent_bytes() const { return output_.readable_bytes(); }

  // Output the owner has promised room for (responses of calls in flight),
  // counted with unsent_bytes() against high_water_mark. Lowering it may
  // resume reading and deliver held input (deferred, never from inside this
  // call).
  void set_reserved_output_bytes(std::size_t bytes);
  std::size_t reserved_output_bytes() const { return reserved_output_; }
  // Unsent output + reservations over high_water_mark.
  bool output_over_limit() const {
    return output_.readable_bytes() + reserved_output_ >
           options_.high_water_mark;
  }
  // Whether the handler should stop consuming input now (see Handler):
  // output_over_limit(), or the shared budget is over.
  bool ShouldHoldInput() const {
    return output_over_limit() ||
           (options_.budget != nullptr && options_.budget->reading_paused());
  }
  // Storage held by both buffers, as reported to the budget.
  std::size_t buffered_bytes() const {
    return input_.capacity() + output_.capacity();
  }
  // The largest buffered_bytes() seen at a report (after each read, flush
  // and close), for the owner's decision to trim the heap after it.
  std::size_t peak_buffered_bytes() const { return peak_buffered_bytes_; }
  // The shared budget is back under its low-water mark: read again, and
  // deliver held input (deferred). Any time; a no-op when not needed.
  void ResumeReading();

  // Writes the output at the end of this loop iteration.
  void ScheduleFlush();
  // Writes now if at least `threshold` bytes are waiting, so that a long
  // read burst does not accumulate unbounded output. May Close().
  void FlushIfOver(std::size_t threshold);

  // Graceful close: see State::kClosing. No-op unless kConnected.
  void CloseAfterFlush();
  // Immediate close: unsent output is dropped. No-op when kClosed.
  void Close(const absl::Status& reason);
  // Writes what the stream takes at once (one write, no waiting), then
  // Close(reason): for a peer that is not reading, whose output must not
  // be kept, while one that is reading still gets the last frames that fit.
  void CloseAfterOneWrite(const absl::Status& reason);

 private:
  void OnIoEvents(std::uint32_t events) override;
  void HandleReadable();
  // OnInput, then what follows each delivery: held input noted, idle
  // storage released, the budget told.
  void DeliverInput();
  // Schedules DeliverInput if input is held and no longer needs to be.
  void MaybeRedeliverInput();
  // Reports a change in buffered_bytes() to the budget.
  void Account();
  void Flush();
  // True while input is wanted: not after the peer's end of stream, nor
  // while over the high-water mark (kConnected).
  bool Reading() const;
  // Recomputes the interest and the half-close after output changed or the
  // state did.
  void AfterOutputChanged();
  void UpdateInterest();

  EventLoop* const loop_;
  const std::unique_ptr<ByteStream> stream_;
  const Options options_;
  Handler* const handler_;

  State state_ = State::kConnected;
  Buffer input_;
  Buffer output_;
  std::uint32_t interest_ = 0;  // epoll events registered; 0 before Start.
  // The epoll event the next read waits for (the last read's resume_on).
  std::uint32_t read_wait_;
  // 0, or the epoll event a write that left output unsent waits for; no
  // write is tried until it arrives.
  std::uint32_t write_wait_ = 0;
  bool registered_ = false;
  bool flush_scheduled_ = false;
  bool peer_eof_ = false;
  bool write_shut_down_ = false;
  std::size_t reserved_output_ = 0;
  // What the budget was last told of buffered_bytes().
  std::size_t accounted_bytes_ = 0;
  std::size_t peak_buffered_bytes_ = 0;
  // The handler left input while ShouldHoldInput(); a redelivery is due
  // once it clears.
  bool input_held_ = false;
  bool redelivery_scheduled_ = false;
  EventLoop::TimerId close_timer_;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_TCP_CONNECTION_H_
