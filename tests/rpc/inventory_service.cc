#include "rpc/inventory_service.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/timestamp.pb.h"

namespace dualrpc::rpc {
namespace {

constexpr absl::string_view kEchoPrefix = "echo-";

void EchoMetadata(ServerCallContext* context) {
  for (const auto& [key, value] : context->request_metadata()) {
    if (absl::StartsWith(key, kEchoPrefix)) {
      context->AddResponseMetadata(key, value);
    }
  }
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* timestamp) {
  const int64_t nanos = absl::ToUnixNanos(time);
  timestamp->set_seconds(nanos / 1000000000);
  timestamp->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::Status CheckLine(const test::v1::AddItemsRequest::Line& line) {
  if (line.key().sku().empty()) {
    return absl::InvalidArgumentError("empty sku");
  }
  if (line.quantity() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("quantity ", line.quantity(),
                                                   " for ", line.key().sku(),
                                                   " is below 1"));
  }
  return absl::OkStatus();
}

}  // namespace

InventoryService::~InventoryService() { Shutdown(); }

void InventoryService::AddItems(ServerCallContext* context,
                                const test::v1::AddItemsRequest* request,
                                test::v1::AddItemsResponse* response,
                                UnaryDone done) {
  EchoMetadata(context);
  for (const test::v1::AddItemsRequest::Line& line : request->lines()) {
    if (absl::Status valid = CheckLine(line); !valid.ok()) {
      std::move(done)(std::move(valid));
      return;
    }
  }
  {
    absl::MutexLock lock(&mutex_);
    for (const test::v1::AddItemsRequest::Line& line : request->lines()) {
      int64_t& stock = stock_[line.key().sku()];
      stock += line.quantity();
      test::v1::Item* item = response->add_items();
      *item->mutable_key() = line.key();
      item->set_quantity(stock);
    }
    update_time_ = absl::Now();
    SetTimestamp(update_time_, response->mutable_update_time());
  }
  std::move(done)(absl::OkStatus());
}

void InventoryService::GetItem(ServerCallContext* context,
                               const test::v1::Item_Key* request,
                               test::v1::Item* response, UnaryDone done) {
  EchoMetadata(context);
  {
    absl::MutexLock lock(&mutex_);
    auto it = stock_.find(request->sku());
    if (it != stock_.end()) {
      *response->mutable_key() = *request;
      response->set_quantity(it->second);
    }
  }
  if (!response->has_key()) {
    std::move(done)(
        absl::NotFoundError(absl::StrCat("no item ", request->sku())));
    return;
  }
  std::move(done)(absl::OkStatus());
}

void InventoryService::GetSummary(ServerCallContext* context,
                                  const google::protobuf::Empty* /*request*/,
                                  test::v1::Summary* response, UnaryDone done) {
  EchoMetadata(context);
  {
    absl::MutexLock lock(&mutex_);
    response->set_item_count(static_cast<int64_t>(stock_.size()));
    for (const auto& [sku, quantity] : stock_) {
      response->set_total_quantity(response->total_quantity() + quantity);
    }
    if (update_time_ != absl::InfinitePast()) {
      SetTimestamp(update_time_, response->mutable_update_time());
    }
  }
  std::move(done)(absl::OkStatus());
}

void InventoryService::Hold(ServerCallContext* context,
                            const google::protobuf::Empty* /*request*/,
                            google::protobuf::Empty* /*response*/,
                            UnaryDone done) {
  EchoMetadata(context);
  {
    absl::MutexLock lock(&mutex_);
    if (!shut_down_) {
      held_.push_back(std::move(done));
      return;
    }
  }
  std::move(done)(absl::CancelledError("inventory service is shut down"));
}

bool InventoryService::WaitForHeldCalls(int count, absl::Duration timeout) {
  auto enough_held = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return static_cast<int>(held_.size()) >= count;
  };
  absl::MutexLock lock(&mutex_);
  return mutex_.AwaitWithTimeout(absl::Condition(&enough_held), timeout);
}

void InventoryService::Shutdown() {
  std::vector<UnaryDone> held;
  {
    absl::MutexLock lock(&mutex_);
    shut_down_ = true;
    held.swap(held_);
  }
  // Outside the lock: a done may run transport code inline.
  for (UnaryDone& done : held) {
    std::move(done)(absl::CancelledError("inventory service is shut down"));
  }
}

}  // namespace dualrpc::rpc
