#ifndef DUALRPC_RAW_SERVER_CALL_DISPATCHER_H_
#define DUALRPC_RAW_SERVER_CALL_DISPATCHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_address.h"
#include "dualrpc/net/tcp_connection.h"
#include "dualrpc/raw/server/server_call.h"
#include "dualrpc/raw/server/server_config.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/rpc/metadata.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::raw {

class ServerConnection;
class ServerLoop;
class ServerStreamCall;

// The call half of one server connection (docs/PROTOCOL.md §3-§4): decodes
// REQUEST headers, finds methods, runs them, tracks the calls in flight
// with their deadlines, handles CANCEL, and writes RESPONSE frames. Knows
// nothing of the connection's lifecycle (preface, GOAWAY, drain, idle,
// closing): its ServerConnection decides when calls may start and when they
// all end, and hears from it (OnCallEnded) when a call leaves on its own (a
// deadline). Owned by that ServerConnection, and so lives exactly as long as
// the connection. Loop thread only.
//
// Calls: a ServerCall is owned by its UnaryDone (see ServerCall), never by
// the dispatcher, which keeps a borrowed pointer for each call in flight
// and drops it before the call can be destroyed. A call that completes
// inside its invoke (Echo) never enters calls_: the ServerLoop routes its
// completion straight back (BeginInvoke / EndInvoke).
//
// Streaming calls (§7) are ServerStreamCalls, owned by the ServerLoop; the
// dispatcher routes their MESSAGE and WINDOW_UPDATE frames by id (streams_,
// borrowed pointers) while they are open on the wire, and they count
// against max_calls_in_flight beside the unary calls.
class CallDispatcher {
 public:
  // `owner` and `connection` outlive this object; `output` is the
  // connection's TcpConnection, which responses are appended to.
  CallDispatcher(ServerLoop* owner, ServerConnection* connection,
                 std::uint64_t connection_id, const net::SocketAddress& peer,
                 net::TcpConnection* output);
  // Cancels what is still in flight.
  ~CallDispatcher();

  CallDispatcher(const CallDispatcher&) = delete;
  CallDispatcher& operator=(const CallDispatcher&) = delete;

  // A REQUEST frame. `refusal` is why the connection takes no new calls now
  // (it is draining), or OK. The call's own errors are answered here, as
  // its RESPONSE; the result is a connection error (§6.3, call ids that do
  // not increase) for the connection to fail with, or OK.
  absl::Status OnRequest(const FrameHeader& header, absl::string_view payload,
                         const absl::Status& refusal);
  // A REQUEST whose payload was over the limit and skipped (same contract).
  absl::Status OnOversizedRequest(const FrameHeader& header,
                                  const absl::Status& refusal);
  // CANCEL (§4.5): no RESPONSE; unknown or finished ids are ignored.
  void OnCancel(std::uint32_t call_id);
  // MESSAGE and WINDOW_UPDATE (§7.5); the result is a connection error or
  // OK. An oversized MESSAGE arrives as OnOversizedMessage.
  absl::Status OnMessage(const FrameHeader& header, absl::string_view payload);
  absl::Status OnOversizedMessage(const FrameHeader& header);
  absl::Status OnWindowUpdate(const FrameHeader& header,
                              absl::string_view payload);
  // The client's preface minor version (§7.1); 0 until it arrives.
  void set_client_minor(std::uint8_t minor) { client_minor_ = minor; }

  // The implementation finished `call` with `status`; `completed_inline` if
  // that happened inside its invoke (ServerLoop::EndInvoke). Writes the
  // response and returns true, unless the call was cancelled, timed out or
  // ended with the connection (then the result is dropped).
  bool FinishCall(std::unique_ptr<ServerCall> call, absl::Status status,
                  bool completed_inline);

  // Every call in flight is cancelled and forgotten, without a response.
  void CancelAll();
  // §5.4, the client's FIN: every streaming call whose request stream is
  // still open is cancelled and forgotten, without a response; calls whose
  // requests are all in run on.
  void CancelOpenRequestStreams();
  // Every call in flight is cancelled, answered with `status`, and
  // forgotten.
  void AnswerAll(const absl::Status& status);

  bool has_calls_in_flight() const {
    return !calls_.empty() || !streams_.empty();
  }
  // Highest call id read so far (GOAWAY's last_call_id).
  std::uint32_t last_call_id() const { return last_call_id_; }

  // ---- For the ServerStreamCalls open on this connection. ----
  net::Buffer* output() { return output_->output(); }
  void ScheduleFlush() { output_->ScheduleFlush(); }
  const FrameLimits& limits() const { return config_.limits; }
  // RESPONSE with an error status (and `metadata` as trailers).
  void SendError(std::uint32_t call_id, const absl::Status& status,
                 const rpc::Metadata& metadata = {});
  // RESPONSE OK with `metadata` and `message` (none when null); an error
  // RESPONSE instead if they are over the limits.
  void SendOkResponse(std::uint32_t call_id, const rpc::Metadata& metadata,
                      const google::protobuf::Message* message);
  // The stream left the wire on its own (RESPONSE sent, its deadline, a
  // call error it found): forget it.
  void EndStream(std::uint32_t call_id);
  // §7.4: the connection's unsent output is over its limit, so streams hold
  // their writes; WaitForOutput has `call_id`'s OnOutputDrained run once it
  // is not.
  bool OutputOverLimit() const;
  void WaitForOutput(std::uint32_t call_id);

 private:
  struct InFlightCall {
    // Borrowed: owned by the call's UnaryDone (or a completion queued to
    // this loop); see ServerCall.
    ServerCall* call;
    net::EventLoop::TimerId deadline_timer;
  };

  // §3.3: a connection error if `call_id` does not increase.
  absl::Status AcceptCallId(std::uint32_t call_id);
  // Why a new REQUEST with `flags` cannot start now, or OK.
  absl::Status CheckAdmission(std::uint8_t flags,
                              const absl::Status& refusal) const;
  // Parses the payload, finds the method and runs it.
  absl::Status StartCall(std::uint32_t call_id, std::uint8_t flags,
                         absl::string_view payload);
  // StartCall for a streaming method.
  absl::Status StartStream(std::uint32_t call_id, std::uint8_t flags,
                           const rpc::Method* method,
                           absl::string_view message,
                           std::uint64_t timeout_micros,
                           rpc::Metadata metadata);
  // The open stream `call_id`, or null.
  ServerStreamCall* FindStream(std::uint32_t call_id) const;
  // Checks `call_id` of a MESSAGE or WINDOW_UPDATE: a connection error if
  // no REQUEST opened it (§7.5).
  absl::Status CheckOpened(const FrameHeader& header) const;
  // A call error on the unary call `call_id` in flight, if there is one.
  void FailUnaryCall(std::uint32_t call_id, const absl::Status& status);
  void ArmOutputTimer();
  void OnOutputTimer();
  // The generated parser's reading of a header that ReadPlainRequestHeader
  // declined (or whose method it could not find): also every error.
  absl::Status ReadFullRequestHeader(absl::string_view bytes,
                                     const rpc::Method** method,
                                     std::uint64_t* timeout_micros,
                                     rpc::Metadata* metadata);
  // The registry's method, remembering the last one found (consecutive
  // calls are mostly to the same method).
  const rpc::Method* FindMethod(absl::string_view path);
  // The subject of the peer's certificate (ByteStream::PeerCertificateSubject),
  // read at the first call, when a TLS handshake is complete; null when
  // there is none. Shared with the calls, which may outlive the connection.
  const std::shared_ptr<const std::string>& PeerCertificateSubject();
  void OnDeadline(std::uint32_t call_id);
  // Removes a call from calls_, cancelling its timer. nullptr if unknown.
  ServerCall* TakeCall(std::uint32_t call_id);
  // Output reservations (§4.3, "unsent output"): every unary call in
  // calls_ may still append one response, so each reserves the message
  // limit on the connection's output (TcpConnection::
  // set_reserved_output_bytes) from dispatch until it leaves calls_. No
  // method declares a smaller bound on its response, so the limit it is. A
  // call that completes inside its invoke (Echo) never enters calls_: its
  // reservation is taken and given back at once, which costs nothing; its
  // response is counted as unsent output instead. Streams reserve nothing:
  // they hold their writes while the output is over the limit
  // (OutputOverLimit) and their windows bound the rest. Call after every
  // change to calls_.
  void UpdateReservation();

  // True if the response message was serialized (sent).
  bool SendResponse(ServerCall* call, absl::Status status);

  ServerLoop* const owner_;
  ServerConnection* const connection_;
  net::EventLoop* const loop_;
  const ServerConfig& config_;
  const std::uint64_t connection_id_;
  // The peer's address as calls' peer() gives it: formatted once, shared by
  // the connection's calls (an access log asks for it on every call).
  const std::shared_ptr<const std::string> peer_;
  net::TcpConnection* const output_;
  std::optional<std::shared_ptr<const std::string>> peer_certificate_subject_;

  std::uint32_t last_call_id_ = 0;
  // Calls that did not complete inside their invoke.
  absl::flat_hash_map<std::uint32_t, InFlightCall> calls_;
  const rpc::Method* last_method_ = nullptr;
  // Streaming calls open on the wire; owned by the ServerLoop.
  absl::flat_hash_map<std::uint32_t, ServerStreamCall*> streams_;
  std::uint8_t client_minor_ = 0;
  // Streams whose held writes wait for the output to drain, and the timer
  // that checks for it.
  // TODO(perf): a TcpConnection callback when output falls under its
  // high-water mark would replace this polling.
  std::vector<std::uint32_t> waiting_for_output_;
  net::EventLoop::TimerId output_timer_;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_CALL_DISPATCHER_H_
