#ifndef DUALRPC_CLI_MESSAGE_PRINTING_H_
#define DUALRPC_CLI_MESSAGE_PRINTING_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace dualrpc::cli {

// How the CLI prints messages it has descriptors for (call's responses,
// describe's templates), as grpcurl does.

enum class MessageFormat {
  kJson,  // proto3 JSON, indented by 2 spaces (as grpcurl and buf curl)
  kText,  // protobuf text format
};

// "json" or "text" (grpcurl's -format); INVALID_ARGUMENT otherwise.
absl::StatusOr<MessageFormat> ParseMessageFormat(absl::string_view text);

struct PrintOptions {
  MessageFormat format = MessageFormat::kJson;
  // JSON only: print fields that hold their default value too (grpcurl's
  // -emit-defaults). Text format never prints them.
  bool emit_defaults = false;
};

// `message` as PrintOptions say, ending in a newline.
absl::StatusOr<std::string> FormatMessage(
    const google::protobuf::Message& message, const PrintOptions& options);

// grpcurl's message template: a message of `descriptor`'s type, made by
// `factory` (which must outlive it), with every field set to its default
// value; a repeated field or map holds one such element; message fields are
// filled the same way one level down, and below that are present but not
// filled (no elements, no message fields set; their scalars still print
// with emit_defaults). A oneof has its first member set.
// Well-known types (google.protobuf.*) are left at their defaults, since
// their JSON forms are not plain objects. Printed with emit_defaults, every
// field appears.
std::unique_ptr<google::protobuf::Message> MessageTemplate(
    const google::protobuf::Descriptor& descriptor,
    google::protobuf::MessageFactory& factory);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_MESSAGE_PRINTING_H_
