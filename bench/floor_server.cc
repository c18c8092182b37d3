// dualrpc-bench-floor-server: the floor contender. A bare length-prefixed
// echo (bench/floor_protocol.h) over epoll: one acceptor, N event-loop
// threads, TCP_NODELAY, each readable burst echoed with one write. No
// protobuf, no call ids, no dispatch — what any RPC over TCP costs at least.
// With --tls_cert and --tls_key, the same over TLS 1.3 (floor_stream.h:
// OpenSSL's own calls; the handshake on the accepting thread, before the
// socket reaches its loop). Runs until killed (the bench sends SIGTERM).

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "bench_net.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/server/ready_file.h"
#include "floor_protocol.h"
#include "floor_stream.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "HOST:PORT to listen on; port 0 picks one.");
ABSL_FLAG(int32_t, threads, 0, "Event-loop threads; 0 means one per core.");
ABSL_FLAG(std::string, ready_file, "",
          "Once listening, write {\"floor\": \"HOST:PORT\"} here.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS 1.3; needs --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");

namespace dualrpc::bench {
namespace {

// Free input space asked of each read; the buffer doubles for larger messages.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr int kMaxEventsPerPoll = 64;

// One accepted socket. Owned by its FloorLoop; used on that loop only.
class FloorConnection {
 public:
  explicit FloorConnection(std::unique_ptr<FloorStream> stream)
      : stream_(std::move(stream)), input_(kReadChunkBytes) {}

  int fd() const { return stream_->fd(); }
  // Whether the loop should watch for writability (output pending) instead of
  // input: a peer that does not read its echoes gets no more reads.
  bool wants_write() const { return output_offset_ < output_.size(); }

  // Handles epoll `events`. False: close the connection.
  bool OnEvents(uint32_t events) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLIN) == 0)
      return false;
    if ((events & EPOLLOUT) != 0 && !Flush()) return false;
    if ((events & EPOLLIN) != 0 && !wants_write()) return ReadAndEcho();
    return true;
  }

 private:
  bool ReadAndEcho() {
    for (;;) {
      if (input_.size() - input_size_ < kReadChunkBytes)
        input_.resize(input_.size() * 2);
      const std::size_t space = input_.size() - input_size_;
      const ssize_t n = stream_->Read(input_.data() + input_size_, space);
      if (n == 0 || n == FloorStream::kBroken) return false;
      if (n == FloorStream::kWouldBlock) break;
      input_size_ += static_cast<std::size_t>(n);
      if (stream_->Drained(static_cast<std::size_t>(n), space)) break;
    }
    const FloorScan scan =
        ScanFloorMessages(absl::string_view(input_.data(), input_size_));
    if (scan.oversized) return false;
    if (scan.complete_bytes > 0 && !Echo(scan.complete_bytes)) return false;
    std::memmove(input_.data(), input_.data() + scan.complete_bytes,
                 input_size_ - scan.complete_bytes);
    input_size_ -= scan.complete_bytes;
    return true;
  }

  // Writes the first `bytes` of input back; what the socket does not take
  // waits in output_.
  bool Echo(std::size_t bytes) {
    std::size_t written = 0;
    if (!wants_write()) {
      const ssize_t n = stream_->Write(input_.data(), bytes);
      if (n == FloorStream::kBroken) return false;
      written = n < 0 ? 0 : static_cast<std::size_t>(n);
    }
    output_.append(input_.data() + written, bytes - written);
    return true;
  }

  bool Flush() {
    while (wants_write()) {
      const ssize_t n = stream_->Write(output_.data() + output_offset_,
                                       output_.size() - output_offset_);
      if (n == FloorStream::kBroken) return false;
      if (n == FloorStream::kWouldBlock) return true;
      output_offset_ += static_cast<std::size_t>(n);
    }
    output_.clear();
    output_offset_ = 0;
    return true;
  }

  const std::unique_ptr<FloorStream> stream_;
  std::vector<char> input_;
  std::size_t input_size_ = 0;
  std::string output_;
  std::size_t output_offset_ = 0;
};

// One event-loop thread and the connections it owns. Adopt() is the only
// method other threads call.
class FloorLoop {
 public:
  FloorLoop()
      : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
        wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr =
        nullptr;  // The wakeup fd is the registration without a connection.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wakeup_fd_.get(), &event);
    thread_ = std::thread([this]() { Run(); });
    thread_.detach();  // Lives until the process is killed.
  }

  // Any thread: hands `stream` to this loop.
  void Adopt(std::unique_ptr<FloorStream> stream) {
    {
      absl::MutexLock lock(&mu_);
      incoming_.push_back(std::move(stream));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeup_fd_.get(), &one, sizeof one);
  }

 private:
  void Run() {
    epoll_event events[kMaxEventsPerPoll];
    for (;;) {
      const int ready =
          ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerPoll, -1);
      for (int i = 0; i < ready; ++i) {
        auto* connection = static_cast<FloorConnection*>(events[i].data.ptr);
        if (connection == nullptr) {
          TakeIncoming();
          continue;
        }
        const bool was_writing = connection->wants_write();
        if (!connection->OnEvents(events[i].events)) {
          ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, connection->fd(),
                      nullptr);
          connections_.erase(connection);
        } else if (connection->wants_write() != was_writing) {
          Watch(EPOLL_CTL_MOD, connection);
        }
      }
    }
  }

  void TakeIncoming() {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t n = ::read(wakeup_fd_.get(), &count, sizeof count);
    std::vector<std::unique_ptr<FloorStream>> streams;
    {
      absl::MutexLock lock(&mu_);
      streams.swap(incoming_);
    }
    for (std::unique_ptr<FloorStream>& stream : streams) {
      auto connection = std::make_unique<FloorConnection>(std::move(stream));
      FloorConnection* raw = connection.get();
      connections_.emplace(raw, std::move(connection));
      Watch(EPOLL_CTL_ADD, raw);
    }
  }

  void Watch(int op, FloorConnection* connection) {
    epoll_event event{};
    event.events = connection->wants_write() ? EPOLLOUT : EPOLLIN;
    event.data.ptr = connection;
    ::epoll_ctl(epoll_fd_.get(), op, connection->fd(), &event);
  }

  base::ScopedFd epoll_fd_;
  base::ScopedFd wakeup_fd_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<FloorStream>> incoming_ ABSL_GUARDED_BY(mu_);
  // Loop thread only.
  absl::flat_hash_map<FloorConnection*, std::unique_ptr<FloorConnection>>
      connections_;
};

int Run() {
  const std::string tls_cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string tls_key = absl::GetFlag(FLAGS_tls_key);
  std::shared_ptr<FloorTlsContext> tls;
  if (tls_cert.empty() != tls_key.empty()) {
    std::fprintf(stderr, "floor-server: --tls_cert and --tls_key go together\n");
    return 2;
  }
  if (!tls_cert.empty()) {
    absl::StatusOr<std::shared_ptr<FloorTlsContext>> made =
        FloorTlsContext::Server(tls_cert, tls_key);
    if (!made.ok()) {
      std::fprintf(stderr, "floor-server: %s\n",
                   made.status().ToString().c_str());
      return 2;
    }
    tls = *std::move(made);
  }
  absl::StatusOr<Listener> listener = ListenTcp(absl::GetFlag(FLAGS_listen));
  if (!listener.ok()) {
    std::fprintf(stderr, "floor-server: %s\n",
                 listener.status().ToString().c_str());
    return 1;
  }
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0)
    threads = static_cast<int>(std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<FloorLoop>> loops;
  for (int i = 0; i < threads; ++i)
    loops.push_back(std::make_unique<FloorLoop>());
  if (const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
      !ready_file.empty()) {
    absl::Status written =
        server::WriteReadyFile(ready_file, {{"floor", listener->address}});
    if (!written.ok()) {
      std::fprintf(stderr, "floor-server: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  for (std::size_t next = 0;; ++next) {
    base::ScopedFd fd(
        ::accept4(listener->fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      std::fprintf(stderr, "floor-server: accept: %s\n", std::strerror(errno));
      return 1;
    }
    if (!PrepareAcceptedSocket(fd.get()).ok()) continue;
    std::unique_ptr<FloorStream> stream;
    if (tls == nullptr) {
      stream = std::make_unique<FloorStream>(std::move(fd));
    } else {
      absl::StatusOr<std::unique_ptr<FloorStream>> secured =
          FloorStream::Handshake(std::move(fd), *tls);
      if (!secured.ok()) {
        std::fprintf(stderr, "floor-server: %s\n",
                     secured.status().ToString().c_str());
        continue;
      }
      stream = *std::move(secured);
    }
    loops[next % loops.size()]->Adopt(std::move(stream));
  }
}

}  // namespace
}  // namespace dualrpc::bench

int main(int argc, char** argv) {
  // Every process of the bench, clients and all servers alike, keeps freed
  // heap (base/heap.h): large messages then cost the same allocator work
  // everywhere.
  dualrpc::base::KeepFreedHeap();
  absl::SetProgramUsageMessage(
      "Bare length-prefixed TCP echo (the bench's floor).");
  absl::ParseCommandLine(argc, argv);
  return dualrpc::bench::Run();
}
