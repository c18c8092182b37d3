#ifndef DUALRPC_TESTS_METRICS_HTTP_CLIENT_H_
#define DUALRPC_TESTS_METRICS_HTTP_CLIENT_H_

// A minimal HTTP/1.x client over a real socket, for the metrics port and
// Prometheus's API in tests: one request per connection, read until the
// server closes. Header-only; IPv4 "HOST:PORT" addresses only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace dualrpc_testing {

struct HttpResponse {
  // 0 when the connection failed or closed without a status line.
  int status = 0;
  std::string head;
  std::string body;
};

// Connects to `address` (IPv4 HOST:PORT), writes `request` as it is and
// reads until the server closes. Every read and write gives up after
// `io_timeout_seconds`, so a server that never answers fails the test
// instead of hanging it. A failed connect returns status 0 without a test
// failure (callers polling for a server to come up use that).
inline HttpResponse HttpExchange(const std::string& address,
                                 const std::string& request,
                                 int io_timeout_seconds = 10) {
  HttpResponse response;
  const std::size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    ADD_FAILURE() << "not HOST:PORT: " << address;
    return response;
  }
  sockaddr_in peer = {};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr) !=
      1) {
    ADD_FAILURE() << "not an IPv4 address: " << address;
    return response;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket";
    return response;
  }
  timeval timeout = {io_timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) {
    ::close(fd);
    return response;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may refuse before reading it all
    sent += static_cast<std::size_t>(n);
  }
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t end_of_head = text.find("\r\n\r\n");
  response.head = text.substr(0, end_of_head);
  if (end_of_head != std::string::npos) {
    response.body = text.substr(end_of_head + 4);
  }
  if ((absl::StartsWith(text, "HTTP/1.1 ") ||
       absl::StartsWith(text, "HTTP/1.0 ")) &&
      text.size() >= 12) {
    EXPECT_TRUE(absl::SimpleAtoi(text.substr(9, 3), &response.status)) << text;
  }
  return response;
}

// GET `path_and_query` (already URL-encoded) as HTTP/1.0, so that the
// answer is never chunked.
inline HttpResponse HttpGet(const std::string& address,
                            const std::string& path_and_query) {
  return HttpExchange(address,
                      absl::StrCat("GET ", path_and_query,
                                   " HTTP/1.0\r\nHost: ", address, "\r\n\r\n"));
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_METRICS_HTTP_CLIENT_H_
