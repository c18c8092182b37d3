#include "dualrpc/rpc/service_registry.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "rpc/inventory_service.h"
#include "testing/status_matchers.h"
#include "testing/unary_method.h"

namespace dualrpc::rpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;

using ::dualrpc::rpc::InventoryService;
using ::dualrpc::test::v1::InventoryBase;
using ::dualrpc::test::v1::InventoryClient;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A method of `path` over google.protobuf.Empty that completes with OK.
Method EmptyMethod(std::string path) {
  using google::protobuf::Empty;
  return dualrpc_testing::UnaryMethodFrom<Empty, Empty>(
      std::move(path),
      [](ServerCallContext*, const Empty&, Empty*, UnaryDone done) {
        std::move(done)(absl::OkStatus());
      });
}

std::vector<std::string> Paths(const std::vector<const Method*>& methods) {
  std::vector<std::string> paths;
  for (const Method* method : methods) paths.push_back(method->path);
  return paths;
}

class FakeCallContext final : public ServerCallContext {
 public:
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string key, std::string value) override {
    response_metadata.emplace_back(std::move(key), std::move(value));
  }
  std::string peer() const override { return "fake"; }

  Metadata response_metadata;

 private:
  Metadata metadata_;
};

// Runs `method` with fresh messages; the status its done reported.
absl::Status Invoke(const Method& method,
                    const google::protobuf::Message& request,
                    google::protobuf::Message* response_copy) {
  FakeCallContext context;
  std::unique_ptr<google::protobuf::Message> typed_request =
      method.new_request();
  typed_request->CopyFrom(request);
  std::unique_ptr<google::protobuf::Message> response = method.new_response();
  absl::Status result = absl::UnknownError("done never ran");
  method.invoke(&context, typed_request.get(), response.get(),
                [&result](absl::Status status) { result = std::move(status); });
  if (response_copy != nullptr) response_copy->CopyFrom(*response);
  return result;
}

TEST(ServiceRegistryTest, FindsAddedMethod) {
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(EmptyMethod("/a.S/M")), IsOk());
  const Method* method = registry.FindMethod("/a.S/M");
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->path, "/a.S/M");
  EXPECT_EQ(registry.FindMethod("/a.S/Other"), nullptr);
  EXPECT_EQ(registry.FindMethod("/a.s/M"), nullptr)
      << "paths are case-sensitive";
}

TEST(ServiceRegistryTest, RejectsDuplicatePath) {
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(EmptyMethod("/a.S/M")), IsOk());
  EXPECT_THAT(registry.AddMethod(EmptyMethod("/a.S/M")),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(ServiceRegistryTest, RejectsMalformedPathsAndMissingFunctions) {
  ServiceRegistry registry;
  for (const char* path :
       {"", "/", "a.S/M", "/a.S", "/a.S/", "//M", "/a/S/M"}) {
    EXPECT_EQ(registry.AddMethod(EmptyMethod(path)).code(),
              absl::StatusCode::kInvalidArgument)
        << path;
  }
  Method no_invoke = EmptyMethod("/a.S/M");
  no_invoke.invoke = nullptr;
  EXPECT_THAT(registry.AddMethod(std::move(no_invoke)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(registry.ServiceNames(), IsEmpty());
}

TEST(ServiceRegistryTest, AddMethodsAddsAllOrNone) {
  ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(EmptyMethod("/a.S/Taken")), IsOk());
  std::vector<Method> clashing;
  clashing.push_back(EmptyMethod("/b.T/New"));
  clashing.push_back(EmptyMethod("/a.S/Taken"));
  EXPECT_THAT(registry.AddMethods(std::move(clashing)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(registry.FindMethod("/b.T/New"), nullptr);

  std::vector<Method> twice;
  twice.push_back(EmptyMethod("/b.T/Same"));
  twice.push_back(EmptyMethod("/b.T/Same"));
  EXPECT_THAT(registry.AddMethods(std::move(twice)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(registry.FindMethod("/b.T/Same"), nullptr);
}

TEST(ServiceRegistryTest, ListsServicesAndTheirMethods) {
  ServiceRegistry registry;
  // "a.B.C" sorts before "a.B" as a path prefix ('.' < '/'), not as a name.
  for (const char* path : {"/a.B/Y", "/a.B.C/Z", "/a.B/X", "/z.Q/M"}) {
    ASSERT_THAT(registry.AddMethod(EmptyMethod(path)), IsOk()) << path;
  }
  EXPECT_THAT(registry.ServiceNames(), ElementsAre("a.B", "a.B.C", "z.Q"));
  EXPECT_THAT(Paths(registry.ServiceMethods("a.B")),
              ElementsAre("/a.B/X", "/a.B/Y"));
  EXPECT_THAT(Paths(registry.ServiceMethods("a.B.C")), ElementsAre("/a.B.C/Z"));
  EXPECT_THAT(registry.ServiceMethods("a"), IsEmpty());
}

TEST(ServiceNameOfPathTest, SplitsPaths) {
  EXPECT_EQ(ServiceNameOfPath("/pkg.Svc/Method"), "pkg.Svc");
  EXPECT_EQ(ServiceNameOfPath("pkg.Svc/Method"), "");
  EXPECT_EQ(ServiceNameOfPath("/pkg.Svc"), "");
}

// The generated RegisterInventory, without any transport.
TEST(GeneratedRegisterTest, RegistersEveryMethodOnce) {
  InventoryService service;
  ServiceRegistry registry;
  ASSERT_THAT(test::v1::RegisterInventory(&service, &registry), IsOk());
  EXPECT_THAT(registry.ServiceNames(),
              ElementsAre(InventoryBase::kServiceName));
  // The streaming methods too, sorted by path.
  EXPECT_THAT(Paths(registry.ServiceMethods(InventoryBase::kServiceName)),
              ElementsAre("/dualrpc.test.v1.Inventory/AddItems",
                          "/dualrpc.test.v1.Inventory/GetItem",
                          "/dualrpc.test.v1.Inventory/GetSummary",
                          "/dualrpc.test.v1.Inventory/Hold",
                          "/dualrpc.test.v1.Inventory/LookupItems",
                          "/dualrpc.test.v1.Inventory/RemoveItem",
                          "/dualrpc.test.v1.Inventory/RestockItems",
                          "/dualrpc.test.v1.Inventory/WatchItems"));
  EXPECT_EQ(std::string(InventoryClient::kGetItemMethod),
            "/dualrpc.test.v1.Inventory/GetItem");

  InventoryService second;
  EXPECT_THAT(test::v1::RegisterInventory(&second, &registry),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(GeneratedRegisterTest, MethodsUseTheConcreteMessageTypes) {
  InventoryService service;
  ServiceRegistry registry;
  ASSERT_THAT(test::v1::RegisterInventory(&service, &registry), IsOk());
  const Method* get_item =
      registry.FindMethod(InventoryClient::kGetItemMethod);
  ASSERT_NE(get_item, nullptr);
  EXPECT_EQ(get_item->new_request()->GetDescriptor()->full_name(),
            "dualrpc.test.v1.Item.Key");
  EXPECT_EQ(get_item->new_response()->GetDescriptor()->full_name(),
            "dualrpc.test.v1.Item");

  test::v1::AddItemsRequest add;
  test::v1::AddItemsRequest::Line* line = add.add_lines();
  line->mutable_key()->set_sku("pear");
  line->set_quantity(2);
  ASSERT_TRUE(Invoke(*registry.FindMethod(InventoryClient::kAddItemsMethod),
                     add, nullptr)
                  .ok());

  test::v1::Item_Key key;
  key.set_sku("pear");
  test::v1::Item item;
  ASSERT_THAT(Invoke(*get_item, key, &item), IsOk());
  EXPECT_EQ(item.key().sku(), "pear");
  EXPECT_EQ(item.quantity(), 2);
}

TEST(GeneratedRegisterTest, BaseCompletesUnoverriddenMethodsAsUnimplemented) {
  InventoryService service;
  ServiceRegistry registry;
  ASSERT_THAT(test::v1::RegisterInventory(&service, &registry), IsOk());
  test::v1::Item_Key key;
  EXPECT_THAT(Invoke(*registry.FindMethod(InventoryClient::kRemoveItemMethod),
                     key, nullptr),
              StatusIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace dualrpc::rpc
