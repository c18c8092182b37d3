#ifndef GREETER_SERVICE_H_
#define GREETER_SERVICE_H_

#include "greeter/v1/greeter.dualrpc.h"

namespace greeter {

// greeter.v1.Greeter. Stateless, so thread-safe; completes every call inline.
class GreeterService final : public v1::GreeterBase {
 public:
  void SayHello(dualrpc::rpc::ServerCallContext* context,
                const v1::SayHelloRequest* request,
                v1::SayHelloResponse* response,
                dualrpc::rpc::UnaryDone done) override;
};

}  // namespace greeter

#endif  // GREETER_SERVICE_H_
