#include "greeter_service.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace greeter {

void GreeterService::SayHello(dualrpc::rpc::ServerCallContext* /*context*/,
                              const v1::SayHelloRequest* request,
                              v1::SayHelloResponse* response,
                              dualrpc::rpc::UnaryDone done) {
  if (request->name().empty()) {
    std::move(done)(absl::InvalidArgumentError("name is empty"));
    return;
  }
  response->set_greeting(absl::StrCat("Hello, ", request->name(), "!"));
  std::move(done)(absl::OkStatus());
}

}  // namespace greeter
