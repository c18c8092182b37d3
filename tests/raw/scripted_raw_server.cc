#include "raw/scripted_raw_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dualrpc/raw/wire/call_payload.h"

namespace dualrpc::raw {
namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

absl::StatusOr<DecodedRequest> ParseRequest(absl::string_view payload) {
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, FrameLimits{});
  if (!parts.ok()) return parts.status();
  DecodedRequest request;
  if (!request.header.ParseFromArray(parts->header.data(),
                                     static_cast<int>(parts->header.size()))) {
    return absl::InternalError("request header does not parse");
  }
  request.message = std::string(parts->message);
  return request;
}

ScriptedConnection::ScriptedConnection(base::ScopedFd fd) : fd_(std::move(fd)) {
  const int on = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

absl::Status ScriptedConnection::ReadMore(absl::Time deadline) {
  return ReadSome(fd_.get(), deadline, &input_);
}

absl::StatusOr<FrameDecoder::Event> ScriptedConnection::NextEvent(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    FrameDecoder::Event event = decoder_.Next(&input_);
    if (event.kind == FrameDecoder::Event::kBadMagic ||
        event.kind == FrameDecoder::Event::kError) {
      return absl::InternalError(
          absl::StrCat("undecodable client output: ", event.error.message()));
    }
    if (event.kind != FrameDecoder::Event::kNeedMoreInput) return event;
    if (absl::Status read = ReadMore(deadline); !read.ok()) return read;
  }
}

absl::Status ScriptedConnection::Handshake(std::uint8_t minor,
                                           absl::Duration timeout) {
  absl::Status read = ReadClientPreface(timeout);
  if (read.ok()) SendPreface(minor);
  return read;
}

absl::Status ScriptedConnection::ReadClientPreface(absl::Duration timeout) {
  absl::StatusOr<FrameDecoder::Event> event = NextEvent(timeout);
  if (!event.ok()) return event.status();
  if (event->kind != FrameDecoder::Event::kPreface ||
      event->major != kMajorVersion) {
    return absl::InternalError("expected a 1.x client preface");
  }
  return absl::OkStatus();
}

void ScriptedConnection::SendPreface(std::uint8_t minor) {
  Send(PrefaceBytes(kMajorVersion, minor));
}

absl::StatusOr<ReceivedFrame> ScriptedConnection::ReadFrame(
    absl::Duration timeout) {
  absl::StatusOr<FrameDecoder::Event> event = NextEvent(timeout);
  if (!event.ok()) return event.status();
  if (event->kind != FrameDecoder::Event::kFrame) {
    return absl::InternalError("expected a frame");
  }
  return ReceivedFrame{event->header, std::string(event->payload)};
}

absl::StatusOr<ReceivedFrame> ScriptedConnection::ReadFrameOf(
    FrameType type, absl::Duration timeout) {
  absl::StatusOr<ReceivedFrame> frame = ReadFrame(timeout);
  if (!frame.ok()) return frame.status();
  if (frame->header.type != type) {
    return absl::InternalError(
        absl::StrCat("expected ", FrameTypeName(type), ", got ",
                     FrameTypeName(frame->header.type), " for call ",
                     frame->header.call_id));
  }
  return frame;
}

bool ScriptedConnection::QuietFor(absl::Duration quiet) {
  absl::StatusOr<FrameDecoder::Event> event = NextEvent(quiet);
  return absl::IsDeadlineExceeded(event.status());
}

bool ScriptedConnection::WaitForEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    absl::StatusOr<FrameDecoder::Event> event =
        NextEvent(std::max(left, absl::ZeroDuration()));
    if (absl::IsUnavailable(event.status())) return true;
    if (!event.ok()) return false;
  }
}

void ScriptedConnection::Send(absl::string_view bytes) {
  SendAll(fd_.get(), bytes);
}

void ScriptedConnection::SendMessage(
    std::uint32_t call_id, const google::protobuf::MessageLite& message,
    std::uint8_t flags) {
  Send(FrameBytes(FrameType::kMessage, flags, call_id,
                  message.SerializeAsString()));
}

void ScriptedConnection::SendWindowUpdate(std::uint32_t call_id,
                                          std::uint32_t increment) {
  net::Buffer out;
  AppendWindowUpdate(&out, call_id, increment);
  Send(out.View());
}

void ScriptedConnection::SendResponse(
    std::uint32_t call_id, const absl::Status& status,
    const rpc::Metadata& trailers,
    const google::protobuf::MessageLite* message) {
  wire::v1::ResponseHeader header;
  SetResponseStatus(status, &header);
  for (const auto& [key, value] : trailers) {
    wire::v1::MetadataEntry* entry = header.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  net::Buffer out;
  absl::Status appended =
      AppendCallFrame(&out, FrameType::kResponse, kFlagEndStream, call_id,
                      &header, message, FrameLimits{});
  if (!appended.ok()) Die("SendResponse");
  Send(out.View());
}

void ScriptedConnection::Close() { fd_ = base::ScopedFd(); }

ScriptedRawServer::ScriptedRawServer()
    : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (!listener_.valid()) Die("ScriptedRawServer socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address),
             sizeof address) != 0 ||
      ::listen(listener_.get(), 16) != 0) {
    Die("ScriptedRawServer bind/listen");
  }
  socklen_t length = sizeof address;
  if (::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
    Die("ScriptedRawServer getsockname");
  }
  address_ = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
}

absl::StatusOr<std::unique_ptr<ScriptedConnection>> ScriptedRawServer::Accept(
    absl::Duration timeout) {
  pollfd readable{listener_.get(), POLLIN, 0};
  if (::poll(&readable, 1, MillisUntil(absl::Now() + timeout)) <= 0) {
    return absl::DeadlineExceededError("no connection in time");
  }
  base::ScopedFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd.valid()) return absl::UnavailableError("accept failed");
  return std::make_unique<ScriptedConnection>(std::move(fd));
}

}  // namespace dualrpc::raw
