#ifndef DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_
#define DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_

#include <grpcpp/impl/service_type.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::grpc {

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
// The services refer to `registry`'s methods: `registry` must stay unchanged
// and outlive them, and they must outlive the grpc::Server. The services
// implementing the methods must complete every call before the server's
// shutdown can finish.
absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> MakeGrpcServices(
    const rpc::ServiceRegistry& registry);

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_REGISTRY_GRPC_SERVICE_H_
