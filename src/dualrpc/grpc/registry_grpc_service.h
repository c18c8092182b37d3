#ifndef DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_
#define DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_

#include <grpcpp/impl/service_type.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::grpc {

// The TLS client-certificate subjects of connections that reach grpc++ in
// plaintext from a TLS terminator of dualrpc's (the shared port's relay),
// keyed by the socket number grpc++ names their calls' peer with ("fd:N").
// GrpcServer::AdoptConnection sets or clears the entry of every socket
// before grpc++ sees it, so an entry describes the last socket adopted with
// that number; grpc++ closes a socket only once no call on it is left, so
// a call never reads the entry of a later socket that reuses its number.
// Thread-safe.
class AdoptedPeerSubjects {
 public:
  // `subject` empty: the socket has none (clears an older entry).
  void Set(int fd, std::string subject);
  // The subject of the adopted socket a call's `peer` ("fd:N") names; empty
  // for any other peer or a socket adopted without one.
  std::string Find(absl::string_view peer) const;

 private:
  mutable absl::Mutex mu_;
  std::map<int, std::string> by_fd_ ABSL_GUARDED_BY(mu_);
};

// Serves a ServiceRegistry over gRPC: one grpc::Service per service name in
// `registry`, each serving every method of that service with grpc++'s
// callback API over raw bytes. Register the services with the server builder
// (GrpcServer::Start). The server lists them under their proto names, so
// reflection and health see them as it sees protoc-generated services.
//
// Per call: the request bytes are parsed into a fresh request message
// (INVALID_ARGUMENT if they do not parse), the method is invoked on a gRPC
// callback thread with a ServerCallContext over the gRPC call, and when its
// done runs, the response is serialized and the call finished with the
// status (and any response metadata as trailers). Response metadata that
// breaks gRPC's rules (rpc/metadata.h) fails the call with INTERNAL. A done
// destroyed without being run finishes the call with INTERNAL.
//
// Streaming methods (rpc::Method::start_stream) are served as gRPC
// streaming methods of their kind: the implementation drives an
// rpc::ServerStream over grpc++'s callback reactor for that kind. A
// server-streaming call's one request is read (and parsed: INVALID_ARGUMENT
// if it does not) before start_stream runs; a client-streaming call's
// response is sent by Finish(OK). StartRead parses each request into the
// message given (one that does not parse ends the reads with false and the
// call with INVALID_ARGUMENT); StartWrite serializes before it returns;
// Finish sends the status with the response metadata as trailers (validated
// as for unary calls). OnCancel when the client cancels, its deadline
// passes or its connection is lost; OnDone last, on a gRPC thread.
//
// ServerCallContext::peer_certificate_subject() is grpc++'s x509_subject
// or, for a connection without an auth context, `adopted`'s entry for it
// (null: none).
//
// The services refer to `registry`'s methods and to `adopted`: both must
// stay unchanged (`adopted`'s entries aside) and outlive them, and they must
// outlive the grpc::Server. The services implementing the methods must
// complete every call before the server's shutdown can finish.
absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> MakeGrpcServices(
    const rpc::ServiceRegistry& registry,
    const AdoptedPeerSubjects* adopted = nullptr);

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_
