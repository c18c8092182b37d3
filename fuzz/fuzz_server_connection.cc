// libFuzzer target: a whole raw ServerConnection (decoder, dispatcher,
// calls, flow control, GOAWAY and close paths) fed a client's bytes.
//
// One RawServer for the process (one event loop, no listener of its own,
// small limits so that limit paths are reachable) serves the real
// FileService over a small tree in a temporary directory. Each input is one
// connection: a socketpair whose server end is handed to RawServer::Adopt
// (the shared port's way in) and whose client end this thread drives. The
// input is written as the client's bytes; when it ends at a frame boundary a
// PING probe follows, and its ACK (or the server closing) says every frame
// before it was handled; then the client half-closes and reads until the
// server closes.
//
// Oracles, besides the sanitizers (LeakSanitizer included):
//  - everything the server writes decodes as a preface then well-formed
//    frames and ends at a frame boundary (or is nothing at all);
//  - after the client's FIN the server closes within kCloseDeadline.
// The server runs on its own threads: coverage is collected from them too,
// and a crash there aborts the process like one on this thread.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ftw.h>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/socket_ops.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/service/file_service_impl.h"
#include "dualrpc/v1/file_service.dualrpc.h"
#include "fuzz_check.h"
#include "google/protobuf/stubs/logging.h"

namespace {

namespace raw = dualrpc::raw;
using Clock = std::chrono::steady_clock;

// How long the PING probe may take before the client half-closes anyway
// (a fuzzed GOAWAY or a stalled call may legitimately leave it unanswered).
constexpr auto kProbeDeadline = std::chrono::seconds(2);
// How long the server may take to close after the client's FIN: it cancels
// every call and closes after flushing (close_timeout below bounds that).
constexpr auto kCloseDeadline = std::chrono::seconds(5);
constexpr char kProbe[raw::kPingPayloadSize] = {'F', 'U', 'Z', 'Z',
                                                'P', 'R', 'O', 'B'};

raw::FrameLimits Limits() {
  raw::FrameLimits limits;
  limits.max_message_bytes = 64 * 1024;
  limits.max_header_bytes = 1024;
  return limits;
}

// The process's server and everything it serves; never destroyed (libFuzzer
// exits without returning), so no input's connection outlives it.
struct Fixture {
  std::string base;
  std::unique_ptr<dualrpc::fileservice::FileServiceCore> core;
  std::unique_ptr<dualrpc::base::BlockingExecutor> executor;
  std::unique_ptr<dualrpc::service::FileServiceImpl> service;
  dualrpc::rpc::ServiceRegistry registry;
  std::unique_ptr<raw::RawServer> server;
};

Fixture* fixture = nullptr;

void RemoveTree() {
  if (fixture == nullptr || fixture->base.empty()) return;
  ::nftw(
      fixture->base.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) {
        return ::remove(path);
      },
      16, FTW_DEPTH | FTW_PHYS);
}

void MakeFile(const std::string& path, absl::string_view contents) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::write(fd, contents.data(), contents.size()) ==
             static_cast<ssize_t>(contents.size()));
  ::close(fd);
}

void StartServer() {
  fixture = new Fixture;
  std::string pattern = "/tmp/dualrpc-fuzz-server-XXXXXX";
  FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
  fixture->base = pattern;
  std::atexit(RemoveTree);
  FUZZ_CHECK(::mkdir((fixture->base + "/dir").c_str(), 0755) == 0);
  for (int i = 0; i < 20; ++i) {
    MakeFile(fixture->base + "/dir/f" + std::to_string(i), "x");
  }
  MakeFile(fixture->base + "/file", "hello");
  FUZZ_CHECK(::symlink("dir", (fixture->base + "/link").c_str()) == 0);

  absl::StatusOr<dualrpc::fileservice::ServedRoot> root =
      dualrpc::fileservice::ServedRoot::Open(fixture->base);
  FUZZ_CHECK(root.ok());
  dualrpc::fileservice::FileServiceOptions options;
  options.default_page_size = 4;
  fixture->core = std::make_unique<dualrpc::fileservice::FileServiceCore>(
      *std::move(root), options);
  fixture->executor = std::make_unique<dualrpc::base::BlockingExecutor>(
      dualrpc::base::BlockingExecutor::Options{/*threads=*/2,
                                               /*max_queued=*/64});
  fixture->service = std::make_unique<dualrpc::service::FileServiceImpl>(
      fixture->core.get(), fixture->executor.get());
  FUZZ_CHECK(dualrpc::v1::RegisterFileService(fixture->service.get(),
                                              &fixture->registry)
                 .ok());

  raw::RawServer::Options server_options;
  server_options.listen_address = "";
  server_options.event_loop_threads = 1;
  server_options.max_calls_in_flight = 16;
  server_options.max_message_bytes = Limits().max_message_bytes;
  server_options.max_header_bytes = Limits().max_header_bytes;
  server_options.output_high_water_bytes = 256 * 1024;
  server_options.close_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<raw::RawServer>> server =
      raw::RawServer::Start(server_options, &fixture->registry);
  FUZZ_CHECK(server.ok());
  fixture->server = *std::move(server);
}

// True if `bytes`, as the server will decode them, end at a frame boundary
// without a connection error (so a probe PING appended is read as a PING).
bool EndsAtFrameBoundary(absl::string_view bytes) {
  raw::FrameDecoder decoder(Limits());
  dualrpc::net::Buffer input;
  input.Append(bytes);
  for (;;) {
    raw::FrameDecoder::Event event = decoder.Next(&input);
    if (event.kind == raw::FrameDecoder::Event::kNeedMoreInput) break;
    if (event.kind == raw::FrameDecoder::Event::kBadMagic ||
        event.kind == raw::FrameDecoder::Event::kError) {
      return false;
    }
  }
  return decoder.CheckEof(input).ok() && !bytes.empty();
}

// Reads the server's bytes and checks them as a client decoder sees them.
class OutputChecker {
 public:
  // Appends the server's next `bytes` and checks the frames they complete.
  void Add(absl::string_view bytes) {
    any_ = any_ || !bytes.empty();
    input_.Append(bytes);
    for (;;) {
      raw::FrameDecoder::Event event = decoder_.Next(&input_);
      if (event.kind == raw::FrameDecoder::Event::kNeedMoreInput) return;
      FUZZ_CHECK(event.kind != raw::FrameDecoder::Event::kBadMagic);
      FUZZ_CHECK(event.kind != raw::FrameDecoder::Event::kError);
      if (event.kind == raw::FrameDecoder::Event::kFrame &&
          event.header.type == raw::FrameType::kPing &&
          (event.header.flags & raw::kFlagAck) != 0 &&
          event.payload == absl::string_view(kProbe, sizeof kProbe)) {
        probe_acked_ = true;
      }
    }
  }
  // Nothing at all (a client that never sent a preface) or whole frames.
  void CheckEnd() const {
    FUZZ_CHECK(!any_ || decoder_.CheckEof(input_).ok());
  }
  bool probe_acked() const { return probe_acked_; }

 private:
  raw::FrameDecoder decoder_{Limits()};
  dualrpc::net::Buffer input_;
  bool probe_acked_ = false;
  bool any_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every invalid UTF-8 string it refuses; at fuzzing rates
  // that is most of the run's time.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  StartServer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::string to_send(input);
  const bool probe = EndsAtFrameBoundary(input);
  if (probe) {
    dualrpc::net::Buffer ping;
    raw::AppendFrameHeader(&ping, raw::FrameType::kPing, /*flags=*/0,
                           /*call_id=*/0, sizeof kProbe);
    ping.Append(kProbe, sizeof kProbe);
    to_send.append(ping.View().data(), ping.readable_bytes());
  }

  absl::StatusOr<std::pair<dualrpc::base::ScopedFd, dualrpc::base::ScopedFd>>
      pair = dualrpc::net::StreamSocketPair();
  FUZZ_CHECK(pair.ok());
  const int client = pair->second.get();
  FUZZ_CHECK(fixture->server
                 ->Adopt(std::make_unique<dualrpc::net::PlainTcpStream>(
                             std::move(pair->first)),
                         dualrpc::net::SocketAddress())
                 .ok());

  OutputChecker output;
  std::size_t sent = 0;
  bool write_closed = false;
  bool reset = false;
  const Clock::time_point start = Clock::now();
  Clock::time_point fin_time{};
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (!write_closed && sent == to_send.size() &&
        (!probe || output.probe_acked() || now - start > kProbeDeadline)) {
      ::shutdown(client, SHUT_WR);
      write_closed = true;
      fin_time = now;
    }
    if (write_closed) FUZZ_CHECK(now - fin_time < kCloseDeadline);

    pollfd watch{client, POLLIN, 0};
    if (!write_closed && sent < to_send.size()) watch.events |= POLLOUT;
    if (::poll(&watch, 1, 50) < 0) FUZZ_CHECK(errno == EINTR);
    if ((watch.revents & POLLOUT) != 0) {
      const ssize_t n = ::send(client, to_send.data() + sent,
                               to_send.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (errno != EAGAIN && errno != EINTR) {
        sent = to_send.size();  // The server has gone; stop writing.
      }
    }
    if ((watch.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[16384];
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n > 0) {
        output.Add(absl::string_view(buffer, static_cast<std::size_t>(n)));
      } else if (n == 0) {
        break;
      } else if (errno != EAGAIN && errno != EINTR) {
        reset = true;  // The server closed with our bytes unread.
        break;
      }
    }
  }
  if (!reset) output.CheckEnd();
  return 0;
}
