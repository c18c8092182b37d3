#include "dualrpc/server/shared_port.h"

#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/wire/frame.h"

namespace dualrpc::server {
namespace {

// The TLS ALPN ids the port routes on.
constexpr absl::string_view kAlpnHttp2 = "h2";
constexpr absl::string_view kAlpnRaw = "dualrpc/1";

// Durations beyond this are "forever" for the loop's clock.
constexpr absl::Duration kForever = absl::Hours(24 * 365 * 100);

net::EventLoop::Clock::duration ToClockDuration(absl::Duration duration) {
  duration = std::clamp(duration, absl::ZeroDuration(), kForever);
  return std::chrono::duration_cast<net::EventLoop::Clock::duration>(
      absl::ToChronoNanoseconds(duration));
}

// The port's one loop is the only one watching its listener.
net::Acceptor::Options AcceptorOptions() {
  net::Acceptor::Options options;
  options.exclusive = false;
  return options;
}

std::uint32_t EpollEvent(net::Readiness readiness) {
  return readiness == net::Readiness::kReadable ? EPOLLIN : EPOLLOUT;
}

// A stream that first yields bytes already read from `inner` (the sniffed
// start of a TLS connection without ALPN), then reads `inner`. Only ever
// read by a StreamRelay, which reads on Start: nothing waits for the fd to
// announce the replayed bytes.
class ReplayingStream final : public net::ByteStream {
 public:
  ReplayingStream(net::Buffer replay, std::unique_ptr<net::ByteStream> inner)
      : replay_(std::move(replay)), inner_(std::move(inner)) {}

  int fd() const override { return inner_->fd(); }
  absl::StatusOr<net::Transfer> ReadInto(net::Buffer* buffer) override {
    if (replay_.readable_bytes() == 0) return inner_->ReadInto(buffer);
    const std::size_t bytes = replay_.readable_bytes();
    buffer->Append(replay_.View());
    replay_.RetrieveAll();
    return net::Transfer{bytes, false};
  }
  absl::StatusOr<net::Transfer> WriteFrom(net::Buffer* buffer) override {
    return inner_->WriteFrom(buffer);
  }
  void ShutdownWrite() override { inner_->ShutdownWrite(); }
  absl::Status PendingError() override { return inner_->PendingError(); }
  std::string PeerCertificateSubject() const override {
    return inner_->PeerCertificateSubject();
  }

 private:
  net::Buffer replay_;
  const std::unique_ptr<net::ByteStream> inner_;
};

}  // namespace

SniffResult SniffProtocol(absl::string_view first_bytes) {
  const bool could_be_raw = absl::StartsWith(
      raw::kPrefaceMagic, first_bytes.substr(0, raw::kPrefaceMagic.size()));
  const bool could_be_http2 = absl::StartsWith(
      kHttp2ClientPreface, first_bytes.substr(0, kHttp2ClientPreface.size()));
  if (could_be_raw && first_bytes.size() >= raw::kPrefaceMagic.size()) {
    return SniffResult::kRaw;
  }
  if (could_be_http2 && first_bytes.size() >= kHttp2ClientPreface.size()) {
    return SniffResult::kHttp2;
  }
  return could_be_raw || could_be_http2 ? SniffResult::kUndecided
                                        : SniffResult::kNeither;
}

// One accepted connection whose protocol is not known yet. Owned by the
// port's detecting_ map; loop thread only. Every exit (Close, a hand-off)
// goes through the port, which defers the destruction.
class SharedPort::Detecting final : private net::IoWatcher {
 public:
  // Plaintext: `socket` is peeked, never read.
  Detecting(SharedPort* port, base::ScopedFd socket,
            const net::SocketAddress& peer)
      : port_(port), loop_(port->loop_.get()), socket_(std::move(socket)),
        peer_(peer) {}
  // TLS: `tls` owns the socket.
  Detecting(SharedPort* port, std::unique_ptr<net::TlsStream> tls,
            const net::SocketAddress& peer)
      : port_(port), loop_(port->loop_.get()), tls_(std::move(tls)),
        peer_(peer) {}

  ~Detecting() {
    loop_->CancelTimer(deadline_);
    Unwatch();
  }

  Detecting(const Detecting&) = delete;
  Detecting& operator=(const Detecting&) = delete;

  int fd() const { return tls_ != nullptr ? tls_->fd() : socket_.get(); }
  const net::SocketAddress& peer() const { return peer_; }
  // A TLS handshake started here and not (yet) complete.
  bool handshake_pending() const {
    return tls_ != nullptr && !tls_->handshake_complete();
  }

  // Arms the timeout and looks at what has arrived already.
  void Start() {
    deadline_ = loop_->RunAt(loop_->now() + port_->detect_timeout_, [this] {
      deadline_ = {};
      port_->Refuse(this, &port_->stats_.refused_detect_timeout);
    });
    if (tls_ == nullptr) {
      // Edge-triggered: peeking leaves the bytes readable, so a
      // level-triggered watch would fire until the next bytes arrive.
      if (!Watch(EPOLLIN | EPOLLRDHUP | EPOLLET)) return;
      SniffPlain(0);
    } else {
      AdvanceTls();
    }
  }

  // Stops watching the fd (also once the socket has been handed over).
  void Unwatch() {
    if (interest_ != 0) loop_->Unwatch(watched_fd_);
    interest_ = 0;
  }
  net::Buffer TakeSniffed() { return std::move(sniffed_); }

 private:
  void OnIoEvents(std::uint32_t events) override {
    if ((events & EPOLLERR) != 0) {
      port_->Close(this);
      return;
    }
    if (tls_ == nullptr) {
      SniffPlain(events);
    } else if (!tls_->handshake_complete()) {
      AdvanceTls();
    } else {
      SniffTls();
    }
  }

  void SniffPlain(std::uint32_t events) {
    char first[kHttp2ClientPreface.size()];
    absl::StatusOr<net::Transfer> peeked =
        net::PeekSocket(socket_.get(), first, sizeof first);
    if (!peeked.ok() || peeked->eof) {
      port_->Close(this);
      return;
    }
    switch (SniffProtocol(absl::string_view(first, peeked->bytes))) {
      case SniffResult::kRaw:
        port_->HandOffRaw(
            this, std::make_unique<net::PlainTcpStream>(std::move(socket_)));
        return;
      case SniffResult::kHttp2:
        port_->HandOffGrpc(this, std::move(socket_));
        return;
      case SniffResult::kNeither:
        port_->Refuse(this, &port_->stats_.refused_unknown_protocol);
        return;
      case SniffResult::kUndecided:
        // The peer has ended its side: no more bytes will come.
        if ((events & (EPOLLRDHUP | EPOLLHUP)) != 0) port_->Close(this);
        return;
    }
  }

  void AdvanceTls() {
    net::Readiness resume_on = net::Readiness::kReadable;
    absl::StatusOr<bool> complete = tls_->ContinueHandshake(&resume_on);
    if (!complete.ok()) {
      port_->Close(this);
      return;
    }
    if (!*complete) {
      Watch(EpollEvent(resume_on));
      return;
    }
    port_->stats_.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
    const std::string alpn = tls_->negotiated_protocol();
    if (alpn == kAlpnRaw) {
      port_->HandOffRaw(this, std::move(tls_));
    } else if (alpn == kAlpnHttp2) {
      port_->StartRelay(this, std::move(tls_));
    } else if (!alpn.empty()) {
      // The context offered an id we do not route.
      port_->Refuse(this, &port_->stats_.refused_unknown_protocol);
    } else {
      SniffTls();
    }
  }

  // TLS without ALPN: the first decrypted bytes decide. They are read (a
  // TLS stream cannot be peeked) and replayed through the relay, which
  // both protocols then get: a raw connection handed over with bytes
  // already out of its fd would wait for a readiness that never comes.
  void SniffTls() {
    for (;;) {
      absl::StatusOr<net::Transfer> read = tls_->ReadInto(&sniffed_);
      if (!read.ok() || read->eof) {
        port_->Close(this);
        return;
      }
      if (read->bytes == 0) {
        Watch(EpollEvent(read->resume_on));
        return;
      }
      switch (SniffProtocol(sniffed_.View())) {
        case SniffResult::kRaw:
        case SniffResult::kHttp2:
          port_->StartRelay(this, std::move(tls_));
          return;
        case SniffResult::kNeither:
          port_->Refuse(this, &port_->stats_.refused_unknown_protocol);
          return;
        case SniffResult::kUndecided:
          break;
      }
    }
  }

  bool Watch(std::uint32_t events) {
    if (events == interest_) return true;
    absl::Status watched = interest_ == 0
                               ? loop_->Watch(fd(), events, this)
                               : loop_->Rewatch(fd(), events, this);
    if (!watched.ok()) {
      port_->Close(this);
      return false;
    }
    interest_ = events;
    watched_fd_ = fd();
    return true;
  }

  SharedPort* const port_;
  net::EventLoop* const loop_;
  base::ScopedFd socket_;
  std::unique_ptr<net::TlsStream> tls_;
  const net::SocketAddress peer_;
  // TLS without ALPN: the decrypted bytes read so far.
  net::Buffer sniffed_;
  std::uint32_t interest_ = 0;
  // The fd registered while interest_ != 0: it stays registered under this
  // object until Unwatch, even after the socket was moved out for a
  // hand-off.
  int watched_fd_ = -1;
  net::EventLoop::TimerId deadline_;
};

absl::StatusOr<std::unique_ptr<SharedPort>> SharedPort::Start(
    Options options, Handlers handlers) {
  if (!handlers.raw || !handlers.grpc) {
    return absl::InvalidArgumentError("SharedPort needs both handlers");
  }
  if (options.max_detecting < 1 || options.listen_backlog < 1 ||
      options.detect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "SharedPort: max_detecting, listen_backlog and detect_timeout must "
        "be positive");
  }
  absl::StatusOr<base::ScopedFd> listener =
      net::Listen(options.listen_address, options.listen_backlog);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(listener->get());
  if (!bound.ok()) return bound.status();
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
      net::EventLoop::Create();
  if (!loop.ok()) return loop.status();

  std::unique_ptr<SharedPort> port(new SharedPort(
      std::move(options), std::move(handlers), *std::move(listener),
      bound->is_unix() ? net::UnixAddressUri(bound->unix_path())
                       : bound->ToHostPort(),
      *std::move(loop)));
  if (absl::Status started = port->acceptor_.Start(); !started.ok()) {
    return started;
  }
  port->thread_ = std::thread([loop = port->loop_.get()] { loop->Run(); });
  return port;
}

SharedPort::SharedPort(Options options, Handlers handlers,
                       base::ScopedFd listener, std::string address,
                       std::unique_ptr<net::EventLoop> loop)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      listener_(std::move(listener)),
      address_(std::move(address)),
      loop_(std::move(loop)),
      acceptor_(loop_.get(), listener_.get(),
                AcceptorOptions(),
                [this](base::ScopedFd socket, const net::SocketAddress& peer) {
                  OnAccepted(std::move(socket), peer);
                }),
      detect_timeout_(ToClockDuration(options_.detect_timeout)) {}

SharedPort::~SharedPort() {
  if (thread_.joinable()) {
    loop_->Post([this] {
      StopAcceptingOnLoop();
      // Closed and destroyed here, not inside their callbacks.
      for (auto& [id, relay] : relays_) relay->Close(absl::CancelledError());
      relays_.clear();
      loop_->Quit();
    });
    thread_.join();
  }
  loop_->CloseMailbox();
}

void SharedPort::StopAccepting() {
  absl::Notification stopped;
  if (!loop_->Post([this, &stopped] {
        StopAcceptingOnLoop();
        stopped.Notify();
      })) {
    return;  // The loop has stopped: nothing runs there any more.
  }
  stopped.WaitForNotification();
}

void SharedPort::StopAcceptingOnLoop() {
  if (!accepting_) return;
  accepting_ = false;
  acceptor_.Stop();
  net::StopListening(listener_.get());
  while (!detecting_.empty()) {
    Refuse(detecting_.begin()->first, &stats_.refused_draining);
  }
}

rpc::TransportStats SharedPort::GetStats() const {
  auto load = [](const std::atomic<std::int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  rpc::TransportStats stats;
  stats.connections_open = load(stats_.detecting);
  stats.connections_accepted_total = load(stats_.accepted);
  stats.refused_total = {
      {rpc::kRefusedMaxDetecting, load(stats_.refused_max_detecting)},
      {rpc::kRefusedDetectTimeout, load(stats_.refused_detect_timeout)},
      {rpc::kRefusedUnknownProtocol, load(stats_.refused_unknown_protocol)},
      {rpc::kRefusedDraining, load(stats_.refused_draining)},
  };
  stats.tls_handshakes_total = load(stats_.tls_handshakes);
  stats.tls_handshake_failures_total = load(stats_.tls_handshake_failures);
  stats.handed_over_total = {{"raw", load(stats_.handed_raw)},
                             {"grpc", load(stats_.handed_grpc)}};
  return stats;
}

void SharedPort::OnAccepted(base::ScopedFd socket,
                            const net::SocketAddress& peer) {
  if (!accepting_) return;
  stats_.accepted.fetch_add(1, std::memory_order_relaxed);
  // Over the cap the socket is closed here, before any byte is read: the
  // peer sees its connection closed at once.
  if (detecting_.size() >= static_cast<std::size_t>(options_.max_detecting)) {
    stats_.refused_max_detecting.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::unique_ptr<Detecting> detecting =
      options_.tls != nullptr
          ? std::make_unique<Detecting>(
                this, options_.tls->WrapServer(std::move(socket)), peer)
          : std::make_unique<Detecting>(this, std::move(socket), peer);
  Detecting* const added = detecting.get();
  detecting_.emplace(added, std::move(detecting));
  stats_.detecting.fetch_add(1, std::memory_order_relaxed);
  added->Start();
}

std::unique_ptr<SharedPort::Detecting> SharedPort::Remove(
    Detecting* detecting) {
  auto it = detecting_.find(detecting);
  if (it == detecting_.end()) return nullptr;
  std::unique_ptr<Detecting> removed = std::move(it->second);
  detecting_.erase(it);
  removed->Unwatch();
  stats_.detecting.fetch_sub(1, std::memory_order_relaxed);
  // Every exit comes here once; a hand-off has taken the stream first.
  if (removed->handshake_pending()) {
    stats_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  }
  return removed;
}

bool SharedPort::Close(Detecting* detecting) {
  std::unique_ptr<Detecting> removed = Remove(detecting);
  if (removed == nullptr) return false;
  // Its methods may be on the stack: destroyed (and closed) at the end of
  // this iteration.
  loop_->Defer([removed = std::move(removed)] {});
  return true;
}

void SharedPort::Refuse(Detecting* detecting,
                        std::atomic<std::int64_t>* reason) {
  if (Close(detecting)) reason->fetch_add(1, std::memory_order_relaxed);
}

void SharedPort::HandOffRaw(Detecting* detecting,
                            std::unique_ptr<net::ByteStream> stream) {
  const net::SocketAddress peer = detecting->peer();
  Close(detecting);
  stats_.handed_raw.fetch_add(1, std::memory_order_relaxed);
  handlers_.raw(std::move(stream), peer);
}

void SharedPort::HandOffGrpc(Detecting* detecting, base::ScopedFd socket) {
  Close(detecting);
  stats_.handed_grpc.fetch_add(1, std::memory_order_relaxed);
  handlers_.grpc(std::move(socket), std::string());
}

void SharedPort::StartRelay(Detecting* detecting,
                            std::unique_ptr<net::ByteStream> tls_stream) {
  net::Buffer sniffed = detecting->TakeSniffed();
  const net::SocketAddress peer = detecting->peer();
  Close(detecting);
  const SniffResult sniffed_as = SniffProtocol(sniffed.View());
  std::string subject = tls_stream->PeerCertificateSubject();
  if (sniffed.readable_bytes() > 0) {
    tls_stream = std::make_unique<ReplayingStream>(std::move(sniffed),
                                                   std::move(tls_stream));
  }
  absl::StatusOr<std::pair<base::ScopedFd, base::ScopedFd>> pair =
      net::StreamSocketPair();
  if (!pair.ok()) return;  // tls_stream closes with this scope.
  const std::uint64_t id = next_id_++;
  auto relay = std::make_unique<net::StreamRelay>(
      loop_.get(), std::move(tls_stream),
      std::make_unique<net::PlainTcpStream>(std::move(pair->first)),
      options_.relay, [this, id](const absl::Status& /*reason*/) {
        loop_->Defer([this, id] { relays_.erase(id); });
      });
  net::StreamRelay* const started = relay.get();
  relays_.emplace(id, std::move(relay));
  // The inner end first, so that the relay's first bytes have a reader.
  (sniffed_as == SniffResult::kRaw ? stats_.handed_raw : stats_.handed_grpc)
      .fetch_add(1, std::memory_order_relaxed);
  if (sniffed_as == SniffResult::kRaw) {
    handlers_.raw(std::make_unique<net::PlainTcpStream>(std::move(pair->second)),
                  peer);
  } else {
    handlers_.grpc(std::move(pair->second), std::move(subject));
  }
  started->Start();
}

}  // namespace dualrpc::server
