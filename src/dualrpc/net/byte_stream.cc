#include "dualrpc/net/byte_stream.h"

#include <utility>

#include "dualrpc/net/socket_ops.h"

namespace dualrpc::net {

PlainTcpStream::PlainTcpStream(base::ScopedFd socket)
    : socket_(std::move(socket)) {}

absl::StatusOr<Transfer> PlainTcpStream::ReadInto(Buffer* buffer) {
  return ReadToBuffer(socket_.get(), buffer);
}

absl::StatusOr<Transfer> PlainTcpStream::WriteFrom(Buffer* buffer) {
  return SendFromBuffer(socket_.get(), buffer);
}

void PlainTcpStream::ShutdownWrite() { net::ShutdownWrite(socket_.get()); }

absl::Status PlainTcpStream::PendingError() {
  return SocketError(socket_.get());
}

}  // namespace dualrpc::net
