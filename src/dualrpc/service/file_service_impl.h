#ifndef DUALRPC_SERVICE_FILE_SERVICE_IMPL_H_
#define DUALRPC_SERVICE_FILE_SERVICE_IMPL_H_

#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/rpc/reactor.h"
#include "dualrpc/rpc/stream.h"
#include "dualrpc/v1/file_service.dualrpc.h"

namespace dualrpc::service {

// The one implementation of the generated dualrpc.v1.FileService interface,
// served unchanged by the gRPC server and the raw server (both reach it
// through a ServiceRegistry filled by v1::RegisterFileService).
//
// Echo completes inline on the calling transport thread. ListDirectory is
// blocking filesystem work: it is handed to the BlockingExecutor and
// completes from an executor thread, so no transport thread (gRPC callback
// thread or raw event loop) ever waits on a disk. Its work is queued under
// the call's ServerCallContext::peer(), which names one TCP connection on
// either transport: the executor serves connections round-robin and bounds
// what each may queue, so a connection that floods the queue is refused
// with RESOURCE_EXHAUSTED ("too many queued blocking calls on this
// connection", the call's status) while other connections' calls start
// after at most one task of each connection ahead of them.
//
// WalkTree reads the tree on the executor (under the same key), one batch
// (FileServiceOptions::walk_batch_entries / walk_batch_bytes) per response,
// and reads the next batch only after the transport took the previous
// response (OnWriteDone): a client that stops reading stops the disk. It
// stops reading when the call is cancelled or its deadline passes.
// EchoStream answers each request with one response, in order, one read and
// one write outstanding at most; it runs on the transport's threads (no
// blocking work).
// Does not own `core` or `executor`; both must outlive the servers and
// every call they started (the reactors use them until OnDone).
class FileServiceImpl final : public v1::FileServiceBase {
 public:
  FileServiceImpl(const fileservice::FileServiceCore* core,
                  base::BlockingExecutor* executor)
      : core_(core), executor_(executor) {}

  void Echo(rpc::ServerCallContext* context, const v1::EchoRequest* request,
            v1::EchoResponse* response, rpc::UnaryDone done) override;
  void ListDirectory(rpc::ServerCallContext* context,
                     const v1::ListDirectoryRequest* request,
                     v1::ListDirectoryResponse* response,
                     rpc::UnaryDone done) override;
  rpc::ServerWriteReactor<v1::WalkTreeResponse>* WalkTree(
      rpc::ServerStream* stream, const v1::WalkTreeRequest* request) override;
  rpc::ServerBidiReactor<v1::EchoRequest, v1::EchoResponse>* EchoStream(
      rpc::ServerStream* stream) override;

 private:
  const fileservice::FileServiceCore* const core_;
  base::BlockingExecutor* const executor_;
};

}  // namespace dualrpc::service

#endif  // DUALRPC_SERVICE_FILE_SERVICE_IMPL_H_
