#ifndef DUALRPC_PLUGIN_DUALRPC_GENERATOR_H_
#define DUALRPC_PLUGIN_DUALRPC_GENERATOR_H_

#include <cstdint>
#include <string>

#include "google/protobuf/compiler/code_generator.h"
#include "google/protobuf/descriptor.h"

namespace dualrpc::plugin {

// protoc-gen-dualrpc: for every foo/bar.proto it is given, writes
// foo/bar.dualrpc.h and foo/bar.dualrpc.cc, always both (a file without
// services gets a header that declares nothing), so that a build system can
// name the outputs without reading the .proto. For each service S in package
// a.b, in namespace a::b:
//   SClient   typed calls over ::dualrpc::rpc::Channel: unary ones blocking
//             and callback; streaming ones (all three kinds) blocking
//             (rpc/blocking_stream.h) and with a typed reactor
//             (rpc/reactor.h);
//   SBase     the service interface, UNIMPLEMENTED by default (streaming
//             methods through rpc::FinishedReactor);
//   RegisterS adds SBase's methods to a ::dualrpc::rpc::ServiceRegistry
//             (MakeUnaryMethod, Make*StreamingMethod).
// The generated header's comments state the forms' contracts. Message
// types are named as protoc's C++
// generator names them, and foo/bar.pb.h is included by that path. Takes no
// options.
class DualrpcGenerator final
    : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file,
                const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  // Message fields do not affect what is generated, so proto3 `optional`
  // needs no support beyond saying so.
  uint64_t GetSupportedFeatures() const override {
    return FEATURE_PROTO3_OPTIONAL;
  }
};

}  // namespace dualrpc::plugin

#endif  // DUALRPC_PLUGIN_DUALRPC_GENERATOR_H_
