#ifndef DUALRPC_TESTS_RAW_SCRIPTED_RAW_SERVER_H_
#define DUALRPC_TESTS_RAW_SCRIPTED_RAW_SERVER_H_

// A scripted server peer for raw-client tests: a real listening socket on
// 127.0.0.1 port 0 whose connections the test drives frame by frame,
// reading what the client sends with the production FrameDecoder and
// answering with exactly the frames it chooses. Blocking, test thread only;
// every read is bounded by a timeout.

#include <cstdint>
#include <memory>
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
#include "dualrpc/wire/v1/wire.pb.h"
#include "google/protobuf/message_lite.h"
#include "raw/test_client.h"

namespace dualrpc::raw {

// A REQUEST payload, decoded.
struct DecodedRequest {
  wire::v1::RequestHeader header;
  std::string message;
};
absl::StatusOr<DecodedRequest> ParseRequest(absl::string_view payload);

// One accepted connection. Owns its socket.
class ScriptedConnection {
 public:
  explicit ScriptedConnection(base::ScopedFd fd);

  // Reads the client's preface and answers with a server preface naming
  // `minor` (0: a 1.0 server). INTERNAL if the client sent something else.
  absl::Status Handshake(std::uint8_t minor = kMinorVersion,
                         absl::Duration timeout = absl::Seconds(10));
  // The two halves of Handshake, for tests that hold the answer back.
  absl::Status ReadClientPreface(absl::Duration timeout = absl::Seconds(10));
  void SendPreface(std::uint8_t minor = kMinorVersion);
  // The next frame the client sent. DEADLINE_EXCEEDED after `timeout`,
  // UNAVAILABLE on EOF, INTERNAL for bytes the decoder rejects.
  absl::StatusOr<ReceivedFrame> ReadFrame(
      absl::Duration timeout = absl::Seconds(10));
  // ReadFrame, checked to be of `type` (INTERNAL otherwise).
  absl::StatusOr<ReceivedFrame> ReadFrameOf(
      FrameType type, absl::Duration timeout = absl::Seconds(10));
  // True if the client sends nothing for `quiet` (and keeps the connection
  // open): the way to assert that a client holds something back.
  bool QuietFor(absl::Duration quiet);
  // True once the client closed the connection, within `timeout`; frames
  // that arrive before the EOF are skipped.
  bool WaitForEof(absl::Duration timeout = absl::Seconds(10));

  void Send(absl::string_view bytes);
  void SendMessage(std::uint32_t call_id,
                   const google::protobuf::MessageLite& message,
                   std::uint8_t flags = 0);
  void SendWindowUpdate(std::uint32_t call_id, std::uint32_t increment);
  // RESPONSE for `call_id`: `status`, `trailers`, and `message` if not null.
  void SendResponse(std::uint32_t call_id, const absl::Status& status,
                    const rpc::Metadata& trailers = {},
                    const google::protobuf::MessageLite* message = nullptr);
  // Closes the socket (the client sees EOF or a reset).
  void Close();

 private:
  absl::StatusOr<FrameDecoder::Event> NextEvent(absl::Duration timeout);
  // One read's worth into input_: OK, DEADLINE_EXCEEDED or UNAVAILABLE.
  absl::Status ReadMore(absl::Time deadline);

  base::ScopedFd fd_;
  net::Buffer input_;
  FrameDecoder decoder_{FrameLimits{}, /*expect_preface=*/true};
};

class ScriptedRawServer {
 public:
  // Listens on 127.0.0.1:0. Aborts the test binary if it cannot (a fixture
  // problem, not a result).
  ScriptedRawServer();

  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  // The next connection; DEADLINE_EXCEEDED if none comes within `timeout`.
  absl::StatusOr<std::unique_ptr<ScriptedConnection>> Accept(
      absl::Duration timeout = absl::Seconds(10));

 private:
  base::ScopedFd listener_;
  std::string address_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_TESTS_RAW_SCRIPTED_RAW_SERVER_H_
