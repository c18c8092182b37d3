#include "dualrpc/client/target.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dualrpc::client {
namespace {

constexpr absl::string_view kSchemeSeparator = "://";
constexpr absl::string_view kExpectedForm =
    "expected grpc://HOST:PORT or raw://HOST:PORT";

absl::Status BadTarget(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad target \"", uri, "\": ", why, " (", kExpectedForm, ")"));
}

absl::StatusOr<TransportScheme> ParseScheme(absl::string_view uri,
                                            absl::string_view scheme) {
  if (scheme == "grpc") return TransportScheme::kGrpc;
  if (scheme == "raw") return TransportScheme::kRaw;
  return absl::InvalidArgumentError(absl::StrCat("unsupported target scheme \"",
                                                 scheme, "\" in \"", uri,
                                                 "\" (", kExpectedForm, ")"));
}

}  // namespace

std::string Target::HostPort() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<Target> ParseTarget(absl::string_view uri) {
  const size_t separator = uri.find(kSchemeSeparator);
  if (separator == absl::string_view::npos) {
    return BadTarget(uri, "no scheme");
  }
  absl::StatusOr<TransportScheme> scheme =
      ParseScheme(uri, uri.substr(0, separator));
  if (!scheme.ok()) return scheme.status();

  const absl::string_view authority =
      uri.substr(separator + kSchemeSeparator.size());
  // rfind: an IPv6 literal carries colons of its own, inside brackets.
  const size_t colon = authority.rfind(':');
  if (colon == absl::string_view::npos) return BadTarget(uri, "no port");
  const absl::string_view host = authority.substr(0, colon);
  const absl::string_view port_text = authority.substr(colon + 1);

  if (host.empty()) return BadTarget(uri, "no host");
  const bool bracketed = host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find_first_of("[]:/") != absl::string_view::npos) {
    return BadTarget(uri, "malformed host");
  }
  if (bracketed && host.size() == 2) return BadTarget(uri, "no host");

  uint32_t port = 0;
  // SimpleAtoi accepts a sign and surrounding spaces; a port is digits only.
  if (port_text.empty() ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return BadTarget(uri, "port must be a number in 1..65535");
  }
  return Target{*scheme, std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace dualrpc::client
