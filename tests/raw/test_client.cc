#include "raw/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::raw {
namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

int MillisUntil(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left) + 1);
}

void SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

absl::Status ReadSome(int fd, absl::Time deadline,
                      dualrpc::net::Buffer* input) {
  pollfd readable{fd, POLLIN, 0};
  const int ready = ::poll(&readable, 1, MillisUntil(deadline));
  if (ready == 0) return absl::DeadlineExceededError("nothing arrived in time");
  char bytes[64 * 1024];
  const ssize_t n = ::recv(fd, bytes, sizeof bytes, 0);
  if (n <= 0) {
    return absl::UnavailableError(n == 0 ? "EOF" : "connection reset");
  }
  input->Append(bytes, static_cast<std::size_t>(n));
  return absl::OkStatus();
}

std::string PrefaceBytes(std::uint8_t major, std::uint8_t minor) {
  dualrpc::net::Buffer out;
  AppendPreface(&out, major, minor);
  return std::string(out.View());
}

std::string RequestBytes(std::uint32_t call_id, absl::string_view method,
                         const google::protobuf::MessageLite& message,
                         std::uint64_t timeout_micros,
                         const dualrpc::rpc::Metadata& metadata,
                         std::uint8_t flags) {
  wire::v1::RequestHeader header;
  header.set_method(std::string(method));
  header.set_timeout_micros(timeout_micros);
  for (const auto& [key, value] : metadata) {
    wire::v1::MetadataEntry* entry = header.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  FrameLimits unlimited;
  unlimited.max_message_bytes = UINT32_MAX / 2;
  unlimited.max_header_bytes = UINT32_MAX / 4;
  dualrpc::net::Buffer out;
  absl::Status appended = AppendCallFrame(
      &out, FrameType::kRequest, flags, call_id, &header, &message, unlimited);
  if (!appended.ok()) Die("RequestBytes");
  return std::string(out.View());
}

std::string FrameBytes(FrameType type, std::uint8_t flags,
                       std::uint32_t call_id, absl::string_view payload) {
  dualrpc::net::Buffer out;
  AppendFrame(&out, type, flags, call_id, {payload});
  return std::string(out.View());
}

std::string OpenStreamBytes(std::uint32_t call_id, absl::string_view method,
                            std::uint64_t timeout_micros,
                            const dualrpc::rpc::Metadata& metadata) {
  wire::v1::RequestHeader header;
  header.set_method(std::string(method));
  header.set_timeout_micros(timeout_micros);
  for (const auto& [key, value] : metadata) {
    wire::v1::MetadataEntry* entry = header.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  dualrpc::net::Buffer out;
  absl::Status appended = AppendCallFrame(&out, FrameType::kRequest, 0, call_id,
                                          &header, nullptr, FrameLimits{});
  if (!appended.ok()) Die("OpenStreamBytes");
  return std::string(out.View());
}

std::string MessageBytes(std::uint32_t call_id,
                         const google::protobuf::MessageLite& message) {
  return FrameBytes(FrameType::kMessage, 0, call_id,
                    message.SerializeAsString());
}

std::string HalfCloseBytes(std::uint32_t call_id) {
  return FrameBytes(FrameType::kMessage, kFlagEndStream, call_id, "");
}

std::string WindowUpdateBytes(std::uint32_t call_id, std::uint32_t increment) {
  dualrpc::net::Buffer out;
  AppendWindowUpdate(&out, call_id, increment);
  return std::string(out.View());
}

std::string CancelBytes(std::uint32_t call_id) {
  return FrameBytes(FrameType::kCancel, 0, call_id, "");
}

absl::StatusOr<Response> ParseResponse(absl::string_view payload) {
  FrameLimits limits;
  absl::StatusOr<CallPayload> parts = SplitCallPayload(payload, limits);
  if (!parts.ok()) return parts.status();
  wire::v1::ResponseHeader header;
  if (!header.ParseFromArray(parts->header.data(),
                             static_cast<int>(parts->header.size()))) {
    return absl::InternalError("response header does not parse");
  }
  Response response;
  response.status = ResponseStatus(header);
  response.message = std::string(parts->message);
  for (const wire::v1::MetadataEntry& entry : header.metadata()) {
    response.metadata.emplace_back(entry.key(), entry.value());
  }
  return response;
}

namespace {

sockaddr_in ParseIpv4(const std::string& host_port) {
  const std::size_t colon = host_port.rfind(':');
  std::uint32_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    Die("TestClient address");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host_port.substr(0, colon).c_str(),
                  &address.sin_addr) != 1) {
    Die("TestClient inet_pton");
  }
  return address;
}

// A connected socket, or an invalid one if connect() fails.
dualrpc::base::ScopedFd ConnectTo(const std::string& host_port) {
  const sockaddr_in address = ParseIpv4(host_port);
  dualrpc::base::ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) Die("TestClient socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                sizeof address) != 0) {
    return dualrpc::base::ScopedFd();
  }
  return fd;
}

}  // namespace

bool CanConnect(const std::string& host_port) {
  return ConnectTo(host_port).valid();
}

TestClient::TestClient(const std::string& host_port)
    : fd_(ConnectTo(host_port)) {
  if (!fd_.valid()) Die("TestClient connect");
  const int on = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void TestClient::Send(absl::string_view bytes) { SendAll(fd_.get(), bytes); }

void TestClient::SendByteByByte(absl::string_view bytes) {
  for (char byte : bytes) Send(absl::string_view(&byte, 1));
}

std::size_t TestClient::TrySend(absl::string_view bytes) {
  const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

void TestClient::ShutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

bool TestClient::ReadMore(absl::Time deadline, absl::Status* why) {
  *why = ReadSome(fd_.get(), deadline, &input_);
  return why->ok();
}

absl::StatusOr<FrameDecoder::Event> TestClient::NextEvent(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    FrameDecoder::Event event = decoder_.Next(&input_);
    if (event.kind == FrameDecoder::Event::kBadMagic ||
        event.kind == FrameDecoder::Event::kError) {
      return absl::InternalError(
          absl::StrCat("undecodable server output: ", event.error.message()));
    }
    if (event.kind != FrameDecoder::Event::kNeedMoreInput) return event;
    absl::Status why;
    if (!ReadMore(deadline, &why)) return why;
  }
}

absl::Status TestClient::ReadPreface(absl::Duration timeout) {
  absl::StatusOr<FrameDecoder::Event> event = NextEvent(timeout);
  if (!event.ok()) return event.status();
  if (event->kind != FrameDecoder::Event::kPreface) {
    return absl::InternalError("expected the server preface");
  }
  if (event->major != kMajorVersion || event->minor != kMinorVersion) {
    return absl::InternalError("unexpected server version");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReceivedFrame> TestClient::ReadFrame(absl::Duration timeout) {
  absl::StatusOr<FrameDecoder::Event> event = NextEvent(timeout);
  if (!event.ok()) return event.status();
  if (event->kind != FrameDecoder::Event::kFrame) {
    return absl::InternalError("expected a frame");
  }
  return ReceivedFrame{event->header, std::string(event->payload)};
}

absl::StatusOr<Response> TestClient::ReadResponse(std::uint32_t call_id,
                                                  absl::Duration timeout) {
  absl::StatusOr<ReceivedFrame> frame = ReadFrame(timeout);
  if (!frame.ok()) return frame.status();
  if (frame->header.type != FrameType::kResponse) {
    return absl::InternalError(absl::StrCat("expected RESPONSE, got ",
                                            FrameTypeName(frame->header.type)));
  }
  if (frame->header.call_id != call_id) {
    return absl::InternalError(absl::StrCat("expected call id ", call_id,
                                            ", got ", frame->header.call_id));
  }
  if (frame->header.flags != kFlagEndStream) {
    return absl::InternalError("RESPONSE without END_STREAM");
  }
  return ParseResponse(frame->payload);
}

bool TestClient::ReadEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::size_t before = input_.readable_bytes();
  absl::Status why;
  while (ReadMore(deadline, &why)) {
  }
  return absl::IsUnavailable(why) && input_.readable_bytes() == before;
}

absl::StatusOr<std::string> TestClient::ReadExactly(std::size_t n,
                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status why;
  while (input_.readable_bytes() < n) {
    if (!ReadMore(deadline, &why)) return why;
  }
  std::string bytes(input_.Peek(), n);
  input_.Retrieve(n);
  return bytes;
}

absl::StatusOr<std::string> TestClient::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status why;
  while (ReadMore(deadline, &why)) {
  }
  if (!absl::IsUnavailable(why)) return why;
  std::string all(input_.View());
  input_.RetrieveAll();
  return all;
}

}  // namespace dualrpc::raw
