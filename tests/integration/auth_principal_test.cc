// What service code sees of authentication, in-process on both transports:
// ServerCallContext::principal(), transport() and peer_certificate_subject()
// read by a test-only method behind an AuthInterceptor; the raw transport's
// subject plumbing through a fake ByteStream (net::ByteStream's
// PeerCertificateSubject), gRPC's from a real mTLS connection; reloading the
// tokens through the API while the servers run.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "dualrpc/auth/auth_interceptor.h"
#include "dualrpc/grpc/byte_buffer_codec.h"
#include "dualrpc/grpc/grpc_channel.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/net/byte_stream.h"
#include "dualrpc/raw/client/raw_channel.h"
#include "dualrpc/raw/server/raw_server.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"
#include "testing/unary_method.h"

namespace dualrpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::google::protobuf::StringValue;

constexpr char kWhoAmI[] = "/dualrpc.test.v1.Auth/WhoAmI";
constexpr char kSubject[] = "CN=alice,O=dualrpc";

// "principal|transport|subject" of the call.
rpc::Method WhoAmIMethod() {
  return dualrpc_testing::UnaryMethodFrom<StringValue, StringValue>(
      kWhoAmI, [](rpc::ServerCallContext* context, const StringValue&,
                  StringValue* response, rpc::UnaryDone done) {
        response->set_value(absl::StrCat(context->principal(), "|",
                                         context->transport(), "|",
                                         context->peer_certificate_subject()));
        std::move(done)(absl::OkStatus());
      });
}

// A plain TCP stream whose peer presented a certificate: what the raw TLS
// stream reports after an mTLS handshake.
class StreamWithSubject final : public net::ByteStream {
 public:
  explicit StreamWithSubject(base::ScopedFd socket)
      : plain_(std::move(socket)) {}
  int fd() const override { return plain_.fd(); }
  absl::StatusOr<net::Transfer> ReadInto(net::Buffer* buffer) override {
    return plain_.ReadInto(buffer);
  }
  absl::StatusOr<net::Transfer> WriteFrom(net::Buffer* buffer) override {
    return plain_.WriteFrom(buffer);
  }
  void ShutdownWrite() override { plain_.ShutdownWrite(); }
  absl::Status PendingError() override { return plain_.PendingError(); }
  std::string PeerCertificateSubject() const override { return kSubject; }

 private:
  net::PlainTcpStream plain_;
};

class AuthPrincipalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tokens_ = dir_.HostPath("tokens");
    WriteTokens("alice-secret alice\nbob-secret bob /other.S/*\n");
    auth::AuthOptions options;
    options.tokens_file = tokens_;
    absl::StatusOr<std::shared_ptr<auth::AuthInterceptor>> auth =
        auth::AuthInterceptor::Create(options);
    ASSERT_THAT(auth, IsOk());
    auth_ = *auth;
    ASSERT_THAT(registry_.AddMethod(WhoAmIMethod()), IsOk());
    ASSERT_THAT(registry_.AddInterceptor(auth_), IsOk());
  }

  void WriteTokens(const std::string& contents) {
    std::ofstream out(tokens_, std::ios::trunc);
    out << contents;
  }

  // Starts the transport under test (the raw server's connections with a
  // client certificate subject when `with_subject`) and a channel to it.
  void Start(bool with_subject = false) {
    if (GetParam() == "raw") {
      raw::RawServer::Options options;
      options.event_loop_threads = 1;
      if (with_subject) {
        options.wrap_stream = [](base::ScopedFd socket) {
          return std::make_unique<StreamWithSubject>(std::move(socket));
        };
      }
      absl::StatusOr<std::unique_ptr<raw::RawServer>> server =
          raw::RawServer::Start(options, &registry_);
      ASSERT_THAT(server, IsOk());
      raw_server_ = *std::move(server);
      absl::StatusOr<std::shared_ptr<raw::RawChannel>> channel =
          raw::RawChannel::Create(raw_server_->address());
      ASSERT_THAT(channel, IsOk());
      channel_ = *channel;
      return;
    }
    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        grpc::MakeGrpcServices(registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);
    grpc::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.builtin_inspection = false;
    absl::StatusOr<std::unique_ptr<grpc::GrpcServer>> server =
        grpc::GrpcServer::Start(options, {grpc_services_[0].get()});
    ASSERT_THAT(server, IsOk());
    grpc_server_ = *std::move(server);
    absl::StatusOr<std::shared_ptr<grpc::GrpcChannel>> channel =
        grpc::GrpcChannel::Create(grpc_server_->address());
    ASSERT_THAT(channel, IsOk());
    channel_ = *channel;
  }

  absl::StatusOr<std::string> WhoAmI(const std::string& token) {
    rpc::CallOptions options;
    options.timeout = absl::Seconds(10);
    if (!token.empty()) {
      options.metadata.emplace_back("authorization", "Bearer " + token);
    }
    StringValue request;
    StringValue response;
    absl::Notification done;
    absl::Status status;
    channel_->StartUnaryCall(kWhoAmI, request, &response, options,
                             [&](absl::Status s) {
                               status = std::move(s);
                               done.Notify();
                             });
    if (!done.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return absl::DeadlineExceededError("no answer");
    }
    if (!status.ok()) return status;
    return response.value();
  }

  dualrpc_testing::TempDir dir_;
  std::string tokens_;
  std::shared_ptr<auth::AuthInterceptor> auth_;
  rpc::ServiceRegistry registry_;
  std::unique_ptr<raw::RawServer> raw_server_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<grpc::GrpcServer> grpc_server_;
  std::shared_ptr<rpc::Channel> channel_;
};

TEST_P(AuthPrincipalTest, ServiceCodeSeesThePrincipalAndTheTransport) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_THAT(WhoAmI("alice-secret"),
              IsOkAndHolds(absl::StrCat("alice|", GetParam(), "|")));
  EXPECT_THAT(WhoAmI(""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(WhoAmI("bob-secret"),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_P(AuthPrincipalTest, ReloadThroughTheApiAppliesToTheNextCalls) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_THAT(WhoAmI("carol-secret"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  WriteTokens("carol-secret carol\n");
  ASSERT_THAT(auth_->Reload(), IsOk());
  EXPECT_THAT(WhoAmI("carol-secret"),
              IsOkAndHolds(absl::StrCat("carol|", GetParam(), "|")));
  EXPECT_THAT(WhoAmI("alice-secret"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // A broken file: the error, and carol still works.
  WriteTokens("x\n");
  EXPECT_THAT(auth_->Reload(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WhoAmI("carol-secret"), IsOk());
}

INSTANTIATE_TEST_SUITE_P(Transports, AuthPrincipalTest,
                         ::testing::Values("grpc", "raw"),
                         [](const auto& info) { return info.param; });

class RawSubjectTest : public AuthPrincipalTest {};

TEST_P(RawSubjectTest, TheConnectionsCertificateSubjectIsThePrincipal) {
  ASSERT_NO_FATAL_FAILURE(Start(/*with_subject=*/true));
  EXPECT_THAT(WhoAmI(""), IsOkAndHolds(absl::StrCat(kSubject, "|raw|",
                                                    kSubject)));
  // A token wins over the certificate.
  EXPECT_THAT(WhoAmI("alice-secret"),
              IsOkAndHolds(absl::StrCat("alice|raw|", kSubject)));
}

INSTANTIATE_TEST_SUITE_P(Raw, RawSubjectTest, ::testing::Values("raw"));

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// gRPC's "x509_subject" of a real mTLS client is the RFC 2253 string the
// raw transport gives ("CN=alice,O=dualrpc", as the certificate generator
// names it), and becomes the principal.
TEST(GrpcSubjectTest, MutualTlsSubjectIsRfc2253AndThePrincipal) {
  dualrpc_testing::TempDir dir;
  absl::StatusOr<dualrpc_testing::TestCerts> certs =
      dualrpc_testing::MakeTestCerts(dir.HostPath("certs"));
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->client_subject, kSubject);

  rpc::ServiceRegistry registry;
  ASSERT_THAT(registry.AddMethod(WhoAmIMethod()), IsOk());
  ASSERT_THAT(registry.AddInterceptor(std::make_shared<auth::AuthInterceptor>(
                  true, std::vector<auth::TokenEntry>{},
                  std::vector<std::string>{})),
              IsOk());
  absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
      grpc::MakeGrpcServices(registry);
  ASSERT_THAT(services, IsOk());

  ::grpc::SslServerCredentialsOptions server_tls(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  server_tls.pem_root_certs = ReadFile(certs->ca_cert);
  server_tls.pem_key_cert_pairs.push_back(
      {ReadFile(certs->server_key), ReadFile(certs->server_cert)});
  ::grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0",
                           ::grpc::SslServerCredentials(server_tls), &port);
  builder.RegisterService((*services)[0].get());
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(port, 0);

  ::grpc::SslCredentialsOptions client_tls;
  client_tls.pem_root_certs = ReadFile(certs->ca_cert);
  client_tls.pem_private_key = ReadFile(certs->client_key);
  client_tls.pem_cert_chain = ReadFile(certs->client_cert);
  std::shared_ptr<::grpc::Channel> channel = ::grpc::CreateChannel(
      absl::StrCat("localhost:", port), ::grpc::SslCredentials(client_tls));
  ::grpc::GenericStub stub(channel);
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  ::grpc::ByteBuffer request;
  ASSERT_THAT(grpc::SerializeToByteBuffer(StringValue(), &request), IsOk());
  ::grpc::CompletionQueue queue;
  std::unique_ptr<::grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, kWhoAmI, request, &queue);
  call->StartCall();
  ::grpc::ByteBuffer response_buffer;
  ::grpc::Status status;
  call->Finish(&response_buffer, &status, &queue);
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(queue.Next(&tag, &ok));
  ASSERT_TRUE(status.ok()) << status.error_message();
  StringValue response;
  ASSERT_THAT(grpc::ParseFromByteBuffer(response_buffer, &response), IsOk());
  EXPECT_EQ(response.value(), absl::StrCat(kSubject, "|grpc|", kSubject));

  server->Shutdown();
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace dualrpc
