#ifndef DUALRPC_RAW_SERVER_MESSAGE_POOL_H_
#define DUALRPC_RAW_SERVER_MESSAGE_POOL_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "dualrpc/rpc/service_registry.h"
#include "google/protobuf/message.h"

namespace dualrpc::raw {

// Request and response messages of finished calls, cleared and kept per
// method for the next calls on the same loop: a steady stream of calls then
// allocates no messages, and a cleared message keeps its strings' capacity,
// so parsing the next request into it allocates nothing either. One per
// ServerLoop; loop thread only.
//
// Memory: at most kMaxPerMethod of each kind per method, and only messages
// whose last use was at most kMaxRecycledBytes on the wire (what a cleared
// message keeps is roughly what it last held), so a burst of large calls
// leaves nothing large behind.
class MessagePool {
 public:
  static constexpr std::size_t kMaxPerMethod = 64;
  static constexpr std::size_t kMaxRecycledBytes = 16 * 1024;

  // A cleared message of the method's request (response) type.
  std::unique_ptr<google::protobuf::Message> NewRequest(
      const rpc::Method& method);
  std::unique_ptr<google::protobuf::Message> NewResponse(
      const rpc::Method& method);

  // Takes back a message of `method` that held `wire_bytes` when last
  // parsed or serialized. Either may be null.
  void RecycleRequest(const rpc::Method& method,
                      std::unique_ptr<google::protobuf::Message> request,
                      std::size_t wire_bytes);
  void RecycleResponse(const rpc::Method& method,
                       std::unique_ptr<google::protobuf::Message> response,
                       std::size_t wire_bytes);

 private:
  using FreeList = std::vector<std::unique_ptr<google::protobuf::Message>>;
  struct Free {
    FreeList requests;
    FreeList responses;
  };

  // The free lists of `method`, created on first use. Calls come mostly
  // to the method of the call before, so the last one is remembered.
  Free& FreeFor(const rpc::Method& method);
  static std::unique_ptr<google::protobuf::Message> Take(FreeList* list);
  static void Put(FreeList* list,
                  std::unique_ptr<google::protobuf::Message> message,
                  std::size_t wire_bytes);

  // Boxed: last_free_ must survive rehashing.
  absl::flat_hash_map<const rpc::Method*, std::unique_ptr<Free>> free_;
  const rpc::Method* last_method_ = nullptr;
  Free* last_free_ = nullptr;
};

}  // namespace dualrpc::raw

#endif  // DUALRPC_RAW_SERVER_MESSAGE_POOL_H_
