// Built by install_test.sh with nothing but the installed prefix:
//   c++ -std=c++17 pkgconfig_client.cc $(pkg-config --cflags --libs dualrpc)
// Echoes through dualrpc.v1.FileService at each target given on the command
// line (grpc://HOST:PORT, raw://HOST:PORT); exits 1 unless every echo comes
// back unchanged.

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc/v1/file_service.dualrpc.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TARGET...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string target = argv[i];
    absl::StatusOr<std::shared_ptr<dualrpc::rpc::Channel>> channel =
        dualrpc::client::CreateChannel(target);
    if (!channel.ok()) {
      std::fprintf(stderr, "%s: %s\n", target.c_str(),
                   channel.status().ToString().c_str());
      return 1;
    }
    dualrpc::v1::FileServiceClient client(*std::move(channel));
    dualrpc::rpc::CallOptions options;
    options.timeout = absl::Seconds(10);
    dualrpc::v1::EchoRequest request;
    request.set_payload("pkg-config " + target);
    absl::StatusOr<dualrpc::v1::EchoResponse> response =
        client.Echo(request, options);
    if (!response.ok() || response->payload() != request.payload()) {
      std::fprintf(stderr, "%s Echo: %s\n", target.c_str(),
                   response.ok() ? "wrong payload"
                                 : response.status().ToString().c_str());
      return 1;
    }
    std::printf("%s Echo: %s\n", target.c_str(), response->payload().c_str());
  }
  return 0;
}
