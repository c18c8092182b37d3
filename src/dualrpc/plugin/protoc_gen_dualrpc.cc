// protoc-gen-dualrpc: run by protoc as
//   protoc --plugin=protoc-gen-dualrpc=PATH --dualrpc_out=DIR ...
// See DualrpcGenerator for what it writes.

#include "dualrpc/plugin/dualrpc_generator.h"
#include "google/protobuf/compiler/plugin.h"

int main(int argc, char* argv[]) {
  dualrpc::plugin::DualrpcGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
