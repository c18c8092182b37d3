#include "dualrpc/cli/message_printing.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::MessageFactory;
using ::google::protobuf::Reflection;

// How far down MessageTemplate fills nested messages: the message's own
// message fields are filled (level 1); theirs are present, not filled.
constexpr int kTemplateDepth = 1;

// `json` as protobuf's printer indents it (one space per level in 3.21),
// re-indented to two spaces per level. JSON strings cannot hold a raw
// newline, so the spaces that start a line are all indentation.
std::string IndentJsonByTwo(const std::string& json) {
  std::vector<absl::string_view> lines = absl::StrSplit(json, '\n');
  size_t unit = 0;  // the printer's indent step: the smallest indent seen
  for (absl::string_view line : lines) {
    const size_t indent = line.find_first_not_of(' ');
    if (indent != 0 && indent != absl::string_view::npos) {
      unit = unit == 0 ? indent : std::min(unit, indent);
    }
  }
  if (unit == 0 || unit == 2) return json;
  std::string out;
  out.reserve(json.size() * 2);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const size_t indent =
        std::min(lines[i].find_first_not_of(' '), lines[i].size());
    out.append(indent / unit * 2, ' ');
    absl::StrAppend(&out, lines[i].substr(indent));
  }
  return out;
}

// Types whose JSON is not a plain object; MessageTemplate leaves them be.
bool IsWellKnownType(const Descriptor& type) {
  return absl::StartsWith(type.full_name(), "google.protobuf.");
}

// Value and Any print as JSON only once they hold something: a template
// does not include them.
bool HasNoEmptyJsonForm(const Descriptor& type) {
  return type.full_name() == "google.protobuf.Value" ||
         type.full_name() == "google.protobuf.Any";
}

void FillTemplate(Message* message, int depth);

// Sets (singular) or adds (repeated) `field`'s default value in `message`;
// a message value is filled one level further down, up to kTemplateDepth.
void SetTemplateValue(Message* message, const FieldDescriptor& field,
                      int depth) {
  const Reflection& reflection = *message->GetReflection();
  const bool repeated = field.is_repeated();
  switch (field.cpp_type()) {
#define DUALRPC_TEMPLATE_CASE(CPPTYPE, Name, value) \
  case FieldDescriptor::CPPTYPE:                    \
    if (repeated) {                                 \
      reflection.Add##Name(message, &field, value); \
    } else {                                        \
      reflection.Set##Name(message, &field, value); \
    }                                               \
    return;
    DUALRPC_TEMPLATE_CASE(CPPTYPE_INT32, Int32, field.default_value_int32())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_INT64, Int64, field.default_value_int64())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_UINT32, UInt32, field.default_value_uint32())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_UINT64, UInt64, field.default_value_uint64())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_DOUBLE, Double, field.default_value_double())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_FLOAT, Float, field.default_value_float())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_BOOL, Bool, field.default_value_bool())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_ENUM, Enum, field.default_value_enum())
    DUALRPC_TEMPLATE_CASE(CPPTYPE_STRING, String, field.default_value_string())
#undef DUALRPC_TEMPLATE_CASE
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Descriptor& type = *field.message_type();
      if (HasNoEmptyJsonForm(type)) return;
      Message* value = repeated ? reflection.AddMessage(message, &field)
                                : reflection.MutableMessage(message, &field);
      // A map entry is not a level of its own: its value is the field's.
      const int value_depth = field.is_map() ? depth : depth + 1;
      if (value_depth <= kTemplateDepth && !IsWellKnownType(type)) {
        FillTemplate(value, value_depth);
      }
      return;
    }
  }
}

// Every field of `message` (one member of each oneof: the first) set to its
// default, `depth` levels below the template's top.
void FillTemplate(Message* message, int depth) {
  const Descriptor& type = *message->GetDescriptor();
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& field = *type.field(i);
    const auto* oneof = field.real_containing_oneof();
    if (oneof != nullptr && oneof->field(0) != &field) continue;
    SetTemplateValue(message, field, depth);
  }
}

}  // namespace

absl::StatusOr<MessageFormat> ParseMessageFormat(absl::string_view text) {
  if (text == "json") return MessageFormat::kJson;
  if (text == "text") return MessageFormat::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("-format is json or text, not \"", text, "\""));
}

absl::StatusOr<std::string> FormatMessage(const Message& message,
                                          const PrintOptions& options) {
  if (options.format == MessageFormat::kText) {
    std::string text;
    if (!google::protobuf::TextFormat::PrintToString(message, &text)) {
      return absl::InternalError("cannot render the message as text format");
    }
    return text;
  }
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = options.emit_defaults;
  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(message, &json, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot render the message as JSON: ", printed.message().ToString()));
  }
  json = IndentJsonByTwo(json);
  if (!absl::EndsWith(json, "\n")) json += '\n';
  return json;
}

std::unique_ptr<Message> MessageTemplate(const Descriptor& descriptor,
                                         MessageFactory& factory) {
  std::unique_ptr<Message> message(factory.GetPrototype(&descriptor)->New());
  FillTemplate(message.get(), 0);
  return message;
}

}  // namespace dualrpc::cli
