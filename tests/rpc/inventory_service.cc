#include "rpc/inventory_service.h"

#include <deque>
#include <optional>
#include <utility>

#include "absl/functional/any_invocable.h"
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

absl::Status ShutDownStatus() {
  return absl::UnavailableError("inventory service is shut down");
}

}  // namespace

// WatchItems: the stock as of the call's start, then every change, one
// write at a time from a queue. Lock order: the service's mutex_, then
// this one's mu_; StartWrite and Finish are called under mu_ (the stream
// never calls back inside them).
class InventoryService::Watcher final
    : public ServerWriteReactor<test::v1::Item> {
 public:
  // Registers with `service`; `service->mutex_` is held.
  Watcher(ServerStream* stream, InventoryService* service)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(service->mutex_)
      : ServerWriteReactor(stream), service_(service) {
    EchoMetadata(stream);
    absl::MutexLock lock(&mu_);
    for (const auto& [sku, quantity] : service->stock_) {
      test::v1::Item& item = queue_.emplace_back();
      item.mutable_key()->set_sku(sku);
      item.set_quantity(quantity);
    }
    if (service->shut_down_) {
      end_status_ = ShutDownStatus();
    } else {
      service->watchers_.insert(this);
    }
    WriteNextLocked();
  }

  // One more change to send.
  void Push(const test::v1::Item& item) {
    absl::MutexLock lock(&mu_);
    if (end_status_.has_value()) return;
    queue_.push_back(item);
    WriteNextLocked();
  }
  // The service shuts down: send what is queued, then end.
  void Stop() {
    absl::MutexLock lock(&mu_);
    if (!end_status_.has_value()) end_status_ = ShutDownStatus();
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) EndLocked(absl::CancelledError("the watch ended"));
    WriteNextLocked();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    EndLocked(absl::CancelledError("the client cancelled the watch"));
    WriteNextLocked();
  }
  void OnDone() override {
    service_->RemoveWatcher(this);
    delete this;
  }

 private:
  // Ends without sending what is queued (the status is dropped anyway).
  void EndLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queue_.clear();
    if (!end_status_.has_value()) end_status_ = std::move(status);
  }
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(queue_.front());  // serialized before it returns
      queue_.pop_front();
      return;
    }
    if (end_status_.has_value()) {
      finished_ = true;
      Finish(*end_status_);
    }
  }

  InventoryService* const service_;
  absl::Mutex mu_;
  std::deque<test::v1::Item> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Set: no more changes; Finish with it once the queue is sent.
  std::optional<absl::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// RestockItems: one line at a time; the lines before a bad one stay added.
class Restocker final
    : public ServerReadReactor<test::v1::AddItemsRequest::Line> {
 public:
  using RestockFunction = absl::AnyInvocable<test::v1::Item(
      const test::v1::AddItemsRequest::Line&, absl::Time*)>;

  Restocker(ServerStream* stream, test::v1::AddItemsResponse* response,
            RestockFunction restock)
      : ServerReadReactor(stream),
        response_(response),
        restock_(std::move(restock)) {
    EchoMetadata(stream);
    StartRead(&line_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-closed (or the call ended: the status is then dropped).
      if (update_time_ != absl::InfinitePast()) {
        SetTimestamp(update_time_, response_->mutable_update_time());
      }
      Finish(absl::OkStatus());
      return;
    }
    if (absl::Status valid = CheckLine(line_); !valid.ok()) {
      Finish(std::move(valid));
      return;
    }
    *response_->add_items() = restock_(line_, &update_time_);
    StartRead(&line_);
  }
  void OnDone() override { delete this; }

 private:
  test::v1::AddItemsResponse* const response_;
  RestockFunction restock_;
  // Touched by one callback at a time: reads are one after another.
  test::v1::AddItemsRequest::Line line_;
  absl::Time update_time_ = absl::InfinitePast();
};

// LookupItems: read a key, write its item, then read the next.
class Lookup final
    : public ServerBidiReactor<test::v1::Item::Key, test::v1::Item> {
 public:
  using LookupFunction =
      absl::AnyInvocable<test::v1::Item(const test::v1::Item::Key&)>;

  Lookup(ServerStream* stream, LookupFunction lookup)
      : ServerBidiReactor(stream), lookup_(std::move(lookup)) {
    EchoMetadata(stream);
    StartRead(&key_);
  }

  // Reads and writes alternate, so these never run at the same time.
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(absl::OkStatus());
      return;
    }
    StartWrite(lookup_(key_));
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(absl::CancelledError("the lookup ended"));
      return;
    }
    StartRead(&key_);
  }
  void OnDone() override { delete this; }

 private:
  LookupFunction lookup_;
  test::v1::Item::Key key_;
};

}  // namespace

InventoryService::~InventoryService() { Shutdown(); }

test::v1::Item InventoryService::Restock(
    const test::v1::AddItemsRequest::Line& line) {
  int64_t& stock = stock_[line.key().sku()];
  stock += line.quantity();
  test::v1::Item item;
  *item.mutable_key() = line.key();
  item.set_quantity(stock);
  for (Watcher* watcher : watchers_) watcher->Push(item);
  return item;
}

void InventoryService::RemoveWatcher(Watcher* watcher) {
  absl::MutexLock lock(&mutex_);
  watchers_.erase(watcher);
}

ServerWriteReactor<test::v1::Item>* InventoryService::WatchItems(
    ServerStream* stream, const google::protobuf::Empty* /*request*/) {
  absl::MutexLock lock(&mutex_);
  return new Watcher(stream, this);
}

ServerReadReactor<test::v1::AddItemsRequest::Line>*
InventoryService::RestockItems(ServerStream* stream,
                               test::v1::AddItemsResponse* response) {
  return new Restocker(
      stream, response,
      [this](const test::v1::AddItemsRequest::Line& line, absl::Time* time) {
        absl::MutexLock lock(&mutex_);
        test::v1::Item item = Restock(line);
        *time = update_time_ = absl::Now();
        return item;
      });
}

ServerBidiReactor<test::v1::Item::Key, test::v1::Item>*
InventoryService::LookupItems(ServerStream* stream) {
  return new Lookup(stream, [this](const test::v1::Item::Key& key) {
    test::v1::Item item;
    *item.mutable_key() = key;
    absl::MutexLock lock(&mutex_);
    auto it = stock_.find(key.sku());
    item.set_quantity(it == stock_.end() ? 0 : it->second);
    return item;
  });
}

bool InventoryService::WaitForWatchers(int count, absl::Duration timeout) {
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return static_cast<int>(watchers_.size()) >= count;
  };
  absl::MutexLock lock(&mutex_);
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

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
      *response->add_items() = Restock(line);
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
    for (Watcher* watcher : watchers_) watcher->Stop();
  }
  // Outside the lock: a done may run transport code inline.
  for (UnaryDone& done : held) {
    std::move(done)(absl::CancelledError("inventory service is shut down"));
  }
}

}  // namespace dualrpc::rpc
