#ifndef DUALRPC_TESTS_RAW_TEST_CLIENT_H_
#define DUALRPC_TESTS_RAW_TEST_CLIENT_H_

// A tiny blocking client for the raw protocol, for tests that must control
// every byte on the wire: it sends exactly what it is given and decodes what
// comes back with the production FrameDecoder.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/base/scoped_fd.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/rpc/call.h"
#include "google/protobuf/message_lite.h"

namespace dualrpc::raw {

// Encoders for what a client sends. Each returns the bytes of one frame.
// The preface is a 1.1 client's unless told otherwise: a 1.2 one gets a
// SETTINGS frame first (§5.6), which only the tests about it read.
std::string PrefaceBytes(std::uint8_t major = kMajorVersion,
                         std::uint8_t minor = kStreamingMinorVersion);
std::string RequestBytes(std::uint32_t call_id, absl::string_view method,
                         const google::protobuf::MessageLite& message,
                         std::uint64_t timeout_micros = 0,
                         const dualrpc::rpc::Metadata& metadata = {},
                         std::uint8_t flags = kFlagEndStream);
std::string FrameBytes(FrameType type, std::uint8_t flags,
                       std::uint32_t call_id, absl::string_view payload);
// §7.2: a streaming call's REQUEST without END_STREAM and without a message
// (header length, header, nothing after).
std::string OpenStreamBytes(std::uint32_t call_id, absl::string_view method,
                            std::uint64_t timeout_micros = 0,
                            const dualrpc::rpc::Metadata& metadata = {});
// A MESSAGE (no END_STREAM) carrying `message`.
std::string MessageBytes(std::uint32_t call_id,
                         const google::protobuf::MessageLite& message);
// The half-close: MESSAGE with END_STREAM, empty.
std::string HalfCloseBytes(std::uint32_t call_id);
std::string WindowUpdateBytes(std::uint32_t call_id, std::uint32_t increment);
std::string CancelBytes(std::uint32_t call_id);

// A RESPONSE payload, decoded.
struct Response {
  absl::Status status;
  std::string message;  // Serialized response message (OK only).
  dualrpc::rpc::Metadata metadata;
};
absl::StatusOr<Response> ParseResponse(absl::string_view payload);

struct ReceivedFrame {
  FrameHeader header;
  std::string payload;
};

// Socket helpers shared by the test peers on either side (TestClient here,
// ScriptedConnection in scripted_raw_server.h).
// Writes all of `bytes` to `fd`; a peer that closed is not an error here
// (later reads tell).
void SendAll(int fd, absl::string_view bytes);
// Waits until `deadline` for bytes on `fd` and appends one read of them to
// `input`: DEADLINE_EXCEEDED if none came, UNAVAILABLE at EOF or reset.
absl::Status ReadSome(int fd, absl::Time deadline, dualrpc::net::Buffer* input);
// Milliseconds left until `deadline`, rounded up, for poll(); 0 if past.
int MillisUntil(absl::Time deadline);

// Whether a TCP connection to HOST:PORT (IPv4) can be established now.
bool CanConnect(const std::string& host_port);

class TestClient {
 public:
  // Connects to HOST:PORT (IPv4) with TCP_NODELAY. Aborts the test binary on
  // failure (a fixture problem, not a result).
  explicit TestClient(const std::string& host_port);

  // Writes all of `bytes`.
  void Send(absl::string_view bytes);
  // Writes `bytes` one send() per byte.
  void SendByteByByte(absl::string_view bytes);
  // Non-blocking send; returns the bytes taken (0 when the socket is full).
  std::size_t TrySend(absl::string_view bytes);
  void ShutdownWrite();

  // The server's preface. DEADLINE_EXCEEDED after `timeout`; UNAVAILABLE
  // on EOF; INTERNAL if something else arrives.
  absl::Status ReadPreface(absl::Duration timeout = absl::Seconds(10));
  // The next frame (after ReadPreface). Same errors.
  absl::StatusOr<ReceivedFrame> ReadFrame(
      absl::Duration timeout = absl::Seconds(10));
  // ReadFrame, checked to be a RESPONSE for `call_id`, decoded.
  absl::StatusOr<Response> ReadResponse(
      std::uint32_t call_id, absl::Duration timeout = absl::Seconds(10));
  // True if the server closes the connection with nothing more to read;
  // false if bytes arrive or nothing happens within `timeout`.
  bool ReadEof(absl::Duration timeout = absl::Seconds(10));
  // Exactly `n` raw bytes (do not mix with the frame readers).
  absl::StatusOr<std::string> ReadExactly(
      std::size_t n, absl::Duration timeout = absl::Seconds(10));
  // Every byte until EOF; DEADLINE_EXCEEDED if EOF does not come in time.
  absl::StatusOr<std::string> ReadAll(
      absl::Duration timeout = absl::Seconds(10));

  int fd() const { return fd_.get(); }

 private:
  // Appends one read's worth to input_; false on EOF, error or timeout.
  bool ReadMore(absl::Time deadline, absl::Status* why);
  absl::StatusOr<FrameDecoder::Event> NextEvent(absl::Duration timeout);

  dualrpc::base::ScopedFd fd_;
  dualrpc::net::Buffer input_;
  FrameDecoder decoder_{FrameLimits{}, /*expect_preface=*/true};
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_TESTS_RAW_TEST_CLIENT_H_
