#include "dualrpc/raw/server/message_pool.h"

#include <utility>

namespace dualrpc::raw {

std::unique_ptr<google::protobuf::Message> MessagePool::NewRequest(
    const rpc::Method& method) {
  std::unique_ptr<google::protobuf::Message> message =
      Take(&FreeFor(method).requests);
  return message != nullptr ? std::move(message) : method.new_request();
}

std::unique_ptr<google::protobuf::Message> MessagePool::NewResponse(
    const rpc::Method& method) {
  std::unique_ptr<google::protobuf::Message> message =
      Take(&FreeFor(method).responses);
  return message != nullptr ? std::move(message) : method.new_response();
}

void MessagePool::RecycleRequest(
    const rpc::Method& method,
    std::unique_ptr<google::protobuf::Message> request,
    std::size_t wire_bytes) {
  Put(&FreeFor(method).requests, std::move(request), wire_bytes);
}

void MessagePool::RecycleResponse(
    const rpc::Method& method,
    std::unique_ptr<google::protobuf::Message> response,
    std::size_t wire_bytes) {
  Put(&FreeFor(method).responses, std::move(response), wire_bytes);
}

MessagePool::Free& MessagePool::FreeFor(const rpc::Method& method) {
  if (last_method_ != &method) {
    std::unique_ptr<Free>& free = free_[&method];
    if (free == nullptr) free = std::make_unique<Free>();
    last_method_ = &method;
    last_free_ = free.get();
  }
  return *last_free_;
}

std::unique_ptr<google::protobuf::Message> MessagePool::Take(FreeList* list) {
  if (list->empty()) return nullptr;
  std::unique_ptr<google::protobuf::Message> message = std::move(list->back());
  list->pop_back();
  return message;
}

void MessagePool::Put(FreeList* list,
                      std::unique_ptr<google::protobuf::Message> message,
                      std::size_t wire_bytes) {
  if (message == nullptr || wire_bytes > kMaxRecycledBytes ||
      list->size() >= kMaxPerMethod) {
    return;
  }
  message->Clear();
  list->push_back(std::move(message));
}

}  // namespace dualrpc::raw
