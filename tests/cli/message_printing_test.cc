#include "dualrpc/cli/message_printing.h"

#include <string>

#include "absl/status/status.h"
#include "dualrpc/test/v1/inventory.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace dualrpc::cli {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;

TEST(FormatMessageTest, JsonByTwoSpacesTextAndDefaults) {
  test::v1::Item item;
  item.mutable_key()->set_sku("a");
  EXPECT_THAT(FormatMessage(item, {}),
              IsOkAndHolds("{\n  \"key\": {\n    \"sku\": \"a\"\n  }\n}\n"));
  EXPECT_THAT(FormatMessage(item, {MessageFormat::kJson, true}),
              IsOkAndHolds("{\n  \"key\": {\n    \"sku\": \"a\"\n  },\n"
                           "  \"quantity\": \"0\"\n}\n"));
  EXPECT_THAT(FormatMessage(item, {MessageFormat::kText, true}),
              IsOkAndHolds("key {\n  sku: \"a\"\n}\n"));
  EXPECT_THAT(FormatMessage(test::v1::Item(), {}), IsOkAndHolds("{}\n"));
}

std::string TemplateJson(const google::protobuf::Descriptor& descriptor,
                         google::protobuf::MessageFactory& factory) {
  absl::StatusOr<std::string> json =
      FormatMessage(*MessageTemplate(descriptor, factory),
                    {MessageFormat::kJson, /*emit_defaults=*/true});
  EXPECT_THAT(json, IsOk());
  return json.value_or("");
}

// Level 0's message fields are filled; theirs (level 2) are present but not
// filled, so only their scalars show (emit_defaults):
// AddItemsRequest.lines[0].key.
TEST(MessageTemplateTest, RepeatedHoldsOneElementFilledOneLevel) {
  EXPECT_EQ(
      TemplateJson(*test::v1::AddItemsRequest::descriptor(),
                   *google::protobuf::MessageFactory::generated_factory()),
      "{\n"
      "  \"lines\": [\n"
      "    {\n"
      "      \"key\": {\n"
      "        \"sku\": \"\"\n"
      "      },\n"
      "      \"quantity\": \"0\"\n"
      "    }\n"
      "  ]\n"
      "}\n");
}

// Maps get one entry, oneofs their first member, a recursive type stops
// after one level, proto3 optional and well-known types are present.
TEST(MessageTemplateTest, MapsOneofsRecursionAndWellKnownTypes) {
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "t.proto"
        package: "t"
        syntax: "proto3"
        dependency: "google/protobuf/timestamp.proto"
        dependency: "google/protobuf/struct.proto"
        message_type {
          name: "Node"
          field {
            name: "label"
            number: 1
            type: TYPE_STRING
            label: LABEL_OPTIONAL
          }
          field {
            name: "child"
            number: 2
            type: TYPE_MESSAGE
            type_name: ".t.Node"
            label: LABEL_OPTIONAL
          }
          field {
            name: "tags"
            number: 3
            type: TYPE_MESSAGE
            type_name: ".t.Node.TagsEntry"
            label: LABEL_REPEATED
          }
          field {
            name: "a"
            number: 4
            type: TYPE_INT32
            label: LABEL_OPTIONAL
            oneof_index: 0
          }
          field {
            name: "b"
            number: 5
            type: TYPE_STRING
            label: LABEL_OPTIONAL
            oneof_index: 0
          }
          field {
            name: "at"
            number: 6
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Timestamp"
            label: LABEL_OPTIONAL
          }
          field {
            name: "any_value"
            number: 7
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Value"
            label: LABEL_OPTIONAL
          }
          field {
            name: "maybe"
            number: 8
            type: TYPE_BOOL
            label: LABEL_OPTIONAL
            oneof_index: 1
            proto3_optional: true
          }
          nested_type {
            name: "TagsEntry"
            options { map_entry: true }
            field {
              name: "key"
              number: 1
              type: TYPE_STRING
              label: LABEL_OPTIONAL
            }
            field {
              name: "value"
              number: 2
              type: TYPE_INT32
              label: LABEL_OPTIONAL
            }
          }
          oneof_decl { name: "choice" }
          oneof_decl { name: "_maybe" }
        })pb",
      &file));
  google::protobuf::DescriptorPool pool(
      google::protobuf::DescriptorPool::generated_pool());
  google::protobuf::Timestamp::descriptor();
  google::protobuf::Value::descriptor();
  ASSERT_NE(pool.BuildFile(file), nullptr);
  google::protobuf::DynamicMessageFactory factory(&pool);
  EXPECT_EQ(TemplateJson(*pool.FindMessageTypeByName("t.Node"), factory),
            "{\n"
            "  \"label\": \"\",\n"
            "  \"child\": {\n"
            "    \"label\": \"\",\n"
            "    \"child\": {\n"
            "      \"label\": \"\",\n"
            "      \"tags\": {}\n"
            "    },\n"
            "    \"tags\": {\n"
            "      \"\": 0\n"
            "    },\n"
            "    \"a\": 0,\n"
            "    \"at\": \"1970-01-01T00:00:00Z\",\n"
            "    \"maybe\": false\n"
            "  },\n"
            "  \"tags\": {\n"
            "    \"\": 0\n"
            "  },\n"
            "  \"a\": 0,\n"
            "  \"at\": \"1970-01-01T00:00:00Z\",\n"
            "  \"maybe\": false\n"
            "}\n");
}

TEST(MessageFormatTest, ParsesGrpcurlsNames) {
  EXPECT_THAT(ParseMessageFormat("json"), IsOkAndHolds(MessageFormat::kJson));
  EXPECT_THAT(ParseMessageFormat("text"), IsOkAndHolds(MessageFormat::kText));
  EXPECT_THAT(ParseMessageFormat("yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dualrpc::cli
