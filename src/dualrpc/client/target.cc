#include "dualrpc/client/target.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/socket_address.h"

namespace dualrpc::client {
namespace {

constexpr absl::string_view kSchemeSeparator = "://";
constexpr absl::string_view kUnixPrefix = "unix:";
constexpr absl::string_view kUnixAuthorityPrefix = "unix://";
constexpr absl::string_view kRawUnixPrefix = "raw+";
constexpr absl::string_view kExpectedForm =
    "expected HOST:PORT or grpc://HOST:PORT (gRPC), grpcs://HOST:PORT (gRPC "
    "over TLS), raw://HOST:PORT (raw), raws://HOST:PORT (raw over TLS), "
    "unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or "
    "raw+unix:PATH (raw on a unix socket)";

absl::Status BadTarget(absl::string_view target, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad target \"", target, "\": ", why, " (", kExpectedForm, ")"));
}

// `tls` is set for the TLS schemes.
absl::StatusOr<TransportScheme> ParseScheme(absl::string_view target,
                                            absl::string_view scheme,
                                            bool* tls) {
  *tls = scheme == "grpcs" || scheme == "raws";
  if (scheme == "grpc" || scheme == "grpcs") return TransportScheme::kGrpc;
  if (scheme == "raw" || scheme == "raws") return TransportScheme::kRaw;
  return absl::InvalidArgumentError(absl::StrCat("unsupported target scheme \"",
                                                 scheme, "\" in \"", target,
                                                 "\" (", kExpectedForm, ")"));
}

// `authority` is HOST:PORT.
absl::StatusOr<Target> ParseHostPort(absl::string_view target,
                                     TransportScheme scheme,
                                     absl::string_view authority) {
  // rfind: an IPv6 literal carries colons of its own, inside brackets.
  const size_t colon = authority.rfind(':');
  if (colon == absl::string_view::npos) return BadTarget(target, "no port");
  const absl::string_view host = authority.substr(0, colon);
  const absl::string_view port_text = authority.substr(colon + 1);

  if (host.empty()) return BadTarget(target, "no host");
  const bool bracketed = host.front() == '[' && host.back() == ']';
  // A name or an IPv4 literal; anything else ("raw+h", "a/b") is a typo
  // better refused here than sent to DNS.
  constexpr absl::string_view kHostCharacters =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
  if (!bracketed &&
      host.find_first_not_of(kHostCharacters) != absl::string_view::npos) {
    return BadTarget(target, "malformed host");
  }
  if (bracketed && host.size() == 2) return BadTarget(target, "no host");

  uint32_t port = 0;
  // SimpleAtoi accepts a sign and surrounding spaces; a port is digits only.
  if (port_text.empty() ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return BadTarget(target, "port must be a number in 1..65535");
  }
  Target parsed{scheme, std::string(host), static_cast<uint16_t>(port), ""};
  return parsed;
}

// `unix_target` starts with "unix:": net's (and gRPC's) unix spellings,
// read by the one parser that the raw transport uses too.
absl::StatusOr<Target> ParseUnix(absl::string_view target,
                                 TransportScheme scheme,
                                 absl::string_view unix_target) {
  const std::string path = net::UnixSocketPath(unix_target).value_or("");
  if (path.empty()) {
    return BadTarget(target, absl::StartsWith(unix_target, kUnixAuthorityPrefix)
                                 ? "a unix target has no authority: "
                                   "unix:///ABS/PATH"
                                 : "no socket path");
  }
  if (absl::StatusOr<net::SocketAddress> address =
          net::SocketAddress::FromUnixPath(path);
      !address.ok()) {
    return BadTarget(target, address.status().message());
  }
  Target parsed{scheme, "", 0, path};
  return parsed;
}

}  // namespace

std::string Target::HostPort() const { return absl::StrCat(host, ":", port); }

std::string Target::TransportAddress() const {
  return is_unix() ? net::UnixAddressUri(unix_path) : HostPort();
}

absl::StatusOr<Target> ParseTarget(absl::string_view target) {
  if (absl::StartsWith(target, kUnixPrefix)) {
    return ParseUnix(target, TransportScheme::kGrpc, target);
  }
  if (absl::StartsWith(target, kRawUnixPrefix) &&
      absl::StartsWith(target.substr(kRawUnixPrefix.size()), kUnixPrefix)) {
    return ParseUnix(target, TransportScheme::kRaw,
                     target.substr(kRawUnixPrefix.size()));
  }
  const size_t separator = target.find(kSchemeSeparator);
  if (separator == absl::string_view::npos) {
    // grpcurl's plain HOST:PORT is gRPC.
    return ParseHostPort(target, TransportScheme::kGrpc, target);
  }
  bool tls = false;
  absl::StatusOr<TransportScheme> scheme =
      ParseScheme(target, target.substr(0, separator), &tls);
  if (!scheme.ok()) return scheme.status();
  absl::StatusOr<Target> parsed = ParseHostPort(
      target, *scheme, target.substr(separator + kSchemeSeparator.size()));
  if (parsed.ok()) parsed->tls = tls;
  return parsed;
}

}  // namespace dualrpc::client
