// The code protoc-gen-dualrpc generates for the inventory test proto,
// checked against the fixed streaming API (issue 10): each signature by
// static_assert (a change to the generator that breaks the API breaks this
// build), and at run time the registration of every kind and the
// UNIMPLEMENTED defaults of a base class that overrides nothing.

#include <memory>
#include <type_traits>

#include "dualrpc/rpc/blocking_stream.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/service_registry.h"
#include "dualrpc/test/v1/inventory.dualrpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_server_stream.h"
#include "testing/status_matchers.h"

namespace dualrpc::test::v1 {
namespace {

namespace rpc = ::dualrpc::rpc;
using ::dualrpc_testing::FakeServerStream;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::Empty;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Line = AddItemsRequest::Line;

// ---- The client ----
static_assert(std::is_same_v<
              decltype(&InventoryClient::WatchItems),
              std::unique_ptr<rpc::ClientReader<Item>> (InventoryClient::*)(
                  const Empty&, const rpc::CallOptions&)>);
static_assert(std::is_same_v<
              decltype(&InventoryClient::WatchItemsAsync),
              void (InventoryClient::*)(const Empty&, const rpc::CallOptions&,
                                        rpc::ClientReadReactor<Item>*)>);
static_assert(std::is_same_v<
              decltype(&InventoryClient::RestockItems),
              std::unique_ptr<rpc::ClientWriter<Line>> (InventoryClient::*)(
                  AddItemsResponse*, const rpc::CallOptions&)>);
static_assert(std::is_same_v<decltype(&InventoryClient::RestockItemsAsync),
                             void (InventoryClient::*)(
                                 const rpc::CallOptions&, AddItemsResponse*,
                                 rpc::ClientWriteReactor<Line>*)>);
static_assert(
    std::is_same_v<decltype(&InventoryClient::LookupItems),
                   std::unique_ptr<rpc::ClientReaderWriter<Item::Key, Item>> (
                       InventoryClient::*)(const rpc::CallOptions&)>);
static_assert(std::is_same_v<
              decltype(&InventoryClient::LookupItemsAsync),
              void (InventoryClient::*)(
                  const rpc::CallOptions&,
                  rpc::ClientBidiReactor<Item::Key, Item>*)>);

// ---- The base ----
static_assert(std::is_same_v<decltype(&InventoryBase::WatchItems),
                             rpc::ServerWriteReactor<Item>* (InventoryBase::*)(
                                 rpc::ServerStream*, const Empty*)>);
static_assert(std::is_same_v<decltype(&InventoryBase::RestockItems),
                             rpc::ServerReadReactor<Line>* (InventoryBase::*)(
                                 rpc::ServerStream*, AddItemsResponse*)>);
static_assert(
    std::is_same_v<decltype(&InventoryBase::LookupItems),
                   rpc::ServerBidiReactor<Item::Key, Item>* (
                       InventoryBase::*)(rpc::ServerStream*)>);

// Overrides nothing: every method is the generated default.
class EmptyInventory final : public InventoryBase {};

class GeneratedApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(RegisterInventory(&service_, &registry_), IsOk());
  }
  EmptyInventory service_;
  rpc::ServiceRegistry registry_;
};

TEST_F(GeneratedApiTest, RegistersEveryMethodWithItsKind) {
  auto kind_of = [this](const char* path) {
    const rpc::Method* method = registry_.FindMethod(path);
    EXPECT_NE(method, nullptr) << path;
    return method == nullptr ? rpc::MethodKind::kUnary : method->kind;
  };
  EXPECT_EQ(kind_of(InventoryClient::kGetItemMethod), rpc::MethodKind::kUnary);
  EXPECT_EQ(kind_of(InventoryClient::kWatchItemsMethod),
            rpc::MethodKind::kServerStreaming);
  EXPECT_EQ(kind_of(InventoryClient::kRestockItemsMethod),
            rpc::MethodKind::kClientStreaming);
  EXPECT_EQ(kind_of(InventoryClient::kLookupItemsMethod),
            rpc::MethodKind::kBidiStreaming);
  EXPECT_EQ(registry_.ServiceMethods(InventoryBase::kServiceName).size(), 8u);

  const rpc::Method* restock =
      registry_.FindMethod(InventoryClient::kRestockItemsMethod);
  ASSERT_NE(restock, nullptr);
  EXPECT_EQ(restock->new_request()->GetDescriptor(), Line::descriptor());
  EXPECT_EQ(restock->new_response()->GetDescriptor(),
            AddItemsResponse::descriptor());
  EXPECT_FALSE(restock->invoke);
  EXPECT_TRUE(restock->start_stream);
}

// Each streaming default ends its call with UNIMPLEMENTED, writes nothing
// and keeps the stream's contract (its reactor deletes itself in OnDone:
// ASan/LSan builds would report a leak).
TEST_F(GeneratedApiTest, StreamingDefaultsFinishWithUnimplemented) {
  for (const char* path :
       {InventoryClient::kWatchItemsMethod, InventoryClient::kRestockItemsMethod,
        InventoryClient::kLookupItemsMethod}) {
    SCOPED_TRACE(path);
    const rpc::Method* method = registry_.FindMethod(path);
    ASSERT_NE(method, nullptr);
    FakeServerStream stream;
    stream.Start(*method);
    ASSERT_TRUE(stream.WaitForDone());
    EXPECT_THAT(stream.status(), StatusIs(absl::StatusCode::kUnimplemented,
                                          HasSubstr("is not implemented")));
    EXPECT_EQ(stream.write_count(), 0u);
    EXPECT_THAT(stream.misuses(), IsEmpty());
  }
}

}  // namespace
}  // namespace dualrpc::test::v1
