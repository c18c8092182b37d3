#include "dualrpc/client/target.h"

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "dualrpc/net/socket_address.h"

namespace dualrpc::client {
namespace {

constexpr absl::string_view kSchemeSeparator = "://";
constexpr absl::string_view kUnixPrefix = "unix:";
constexpr absl::string_view kUnixAuthorityPrefix = "unix://";
constexpr absl::string_view kRawUnixPrefix = "raw+";
constexpr absl::string_view kDnsScheme = "dns";
constexpr absl::string_view kDnsSuffix = "+dns";
constexpr absl::string_view kExpectedForm =
    "expected HOST:PORT or grpc://HOST:PORT (gRPC), grpcs://HOST:PORT (gRPC "
    "over TLS), raw://HOST:PORT (raw), raws://HOST:PORT (raw over TLS), "
    "each with a comma-separated list of HOST:PORT for several servers, "
    "dns:///NAME:PORT, grpcs+dns:///NAME:PORT, raw+dns:///NAME:PORT or "
    "raws+dns:///NAME:PORT (every address NAME resolves to), "
    "unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or "
    "raw+unix:PATH (raw on a unix socket)";

enum class IpFamily { kNone, kV4, kV6 };

// The literal family of a HOST as written (IPv6 in brackets).
IpFamily FamilyOf(const std::string& host) {
  unsigned char bytes[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string inner = host.substr(1, host.size() - 2);
    return inet_pton(AF_INET6, inner.c_str(), bytes) == 1 ? IpFamily::kV6
                                                          : IpFamily::kNone;
  }
  return inet_pton(AF_INET, host.c_str(), bytes) == 1 ? IpFamily::kV4
                                                      : IpFamily::kNone;
}

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
absl::StatusOr<TargetAddress> ParseHostPort(absl::string_view target,
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
  return TargetAddress{std::string(host), static_cast<uint16_t>(port)};
}

// `list` is HOST:PORT[,HOST:PORT...]; a dns target takes exactly one.
absl::StatusOr<Target> ParseAddresses(absl::string_view target,
                                      TransportScheme scheme, bool tls,
                                      bool dns, absl::string_view list) {
  Target parsed;
  parsed.scheme = scheme;
  parsed.tls = tls;
  parsed.dns = dns;
  if (list.empty()) return BadTarget(target, "no host");
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    if (entry.empty()) return BadTarget(target, "empty entry in the list");
    absl::StatusOr<TargetAddress> address = ParseHostPort(target, entry);
    if (!address.ok()) return address.status();
    parsed.addresses.push_back(*std::move(address));
  }
  if (dns && parsed.addresses.size() > 1) {
    return BadTarget(target, "a dns target names one NAME:PORT");
  }
  if (parsed.addresses.size() > static_cast<size_t>(kMaxTargetAddresses)) {
    return BadTarget(
        target, absl::StrCat("more than ", kMaxTargetAddresses, " addresses"));
  }
  if (scheme == TransportScheme::kGrpc && parsed.addresses.size() > 1) {
    const IpFamily family = FamilyOf(parsed.addresses[0].host);
    for (const TargetAddress& address : parsed.addresses) {
      if (family == IpFamily::kNone || FamilyOf(address.host) != family) {
        return BadTarget(target,
                         "a list of addresses on grpc:// must be IP literals "
                         "of one family; use dns:///NAME:PORT");
      }
    }
  }
  parsed.host = parsed.addresses[0].host;
  parsed.port = parsed.addresses[0].port;
  return parsed;
}

// `rest` follows "SCHEME:" of a dns scheme: "///NAME:PORT".
absl::StatusOr<Target> ParseDns(absl::string_view target,
                                TransportScheme scheme, bool tls,
                                absl::string_view rest) {
  if (!absl::ConsumePrefix(&rest, "//")) {
    return BadTarget(target, "a dns target is dns:///NAME:PORT");
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return BadTarget(target, "a dns target is dns:///NAME:PORT");
  }
  if (slash != 0) {
    return BadTarget(target, "DNS server authority is not supported");
  }
  return ParseAddresses(target, scheme, tls, /*dns=*/true, rest.substr(1));
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
  Target parsed;
  parsed.scheme = scheme;
  parsed.unix_path = path;
  return parsed;
}

}  // namespace

std::string TargetAddress::HostPort() const {
  return absl::StrCat(host, ":", port);
}

std::string Target::HostPort() const { return absl::StrCat(host, ":", port); }

std::string Target::TransportAddress() const {
  if (is_unix()) return net::UnixAddressUri(unix_path);
  if (scheme != TransportScheme::kGrpc) return HostPort();
  if (dns) return absl::StrCat("dns:///", HostPort());
  if (addresses.size() < 2) return HostPort();
  // Checked by ParseAddresses: every host is a literal of one family.
  const bool v6 = FamilyOf(addresses[0].host) == IpFamily::kV6;
  return absl::StrCat(
      v6 ? "ipv6:" : "ipv4:",
      absl::StrJoin(addresses, ",",
                    [](std::string* out, const TargetAddress& address) {
                      out->append(address.HostPort());
                    }));
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
  // "dns:", "raw+dns:", ...: gRPC's dns URI, whose authority is "//[DNS]".
  if (const size_t colon = target.find(':');
      colon != absl::string_view::npos &&
      absl::StartsWith(target.substr(colon + 1), "//")) {
    absl::string_view scheme_name = target.substr(0, colon);
    if (scheme_name == kDnsScheme) {
      return ParseDns(target, TransportScheme::kGrpc, /*tls=*/false,
                      target.substr(colon + 1));
    }
    if (absl::ConsumeSuffix(&scheme_name, kDnsSuffix)) {
      bool tls = false;
      absl::StatusOr<TransportScheme> scheme =
          ParseScheme(target, scheme_name, &tls);
      if (!scheme.ok()) return scheme.status();
      if (scheme_name == "grpc") {
        return BadTarget(target, "gRPC over DNS is dns:///NAME:PORT");
      }
      return ParseDns(target, *scheme, tls, target.substr(colon + 1));
    }
  }
  const size_t separator = target.find(kSchemeSeparator);
  if (separator == absl::string_view::npos) {
    // grpcurl's plain HOST:PORT is gRPC.
    return ParseAddresses(target, TransportScheme::kGrpc, /*tls=*/false,
                          /*dns=*/false, target);
  }
  bool tls = false;
  absl::StatusOr<TransportScheme> scheme =
      ParseScheme(target, target.substr(0, separator), &tls);
  if (!scheme.ok()) return scheme.status();
  return ParseAddresses(target, *scheme, tls, /*dns=*/false,
                        target.substr(separator + kSchemeSeparator.size()));
}

}  // namespace dualrpc::client
