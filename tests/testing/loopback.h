#ifndef DUALRPC_TESTING_LOOPBACK_H_
#define DUALRPC_TESTING_LOOPBACK_H_

// Loopback helpers for tests that talk to a port on 127.0.0.1 directly.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "dualrpc/base/scoped_fd.h"
#include "gtest/gtest.h"

namespace dualrpc_testing {

// The port of a "HOST:PORT" (what ready files and address() give); a
// test failure and 0 if it has none.
inline int PortOf(const std::string& host_port) {
  int port = 0;
  EXPECT_TRUE(
      absl::SimpleAtoi(host_port.substr(host_port.rfind(':') + 1), &port))
      << host_port;
  return port;
}

// A blocking TCP connection to 127.0.0.1:`port`; a test failure if the
// connect fails (the fd is returned either way).
inline dualrpc::base::ScopedFd ConnectLoopbackTcp(int port) {
  dualrpc::base::ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
                      sizeof address),
            0);
  return fd;
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTING_LOOPBACK_H_
