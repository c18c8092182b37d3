// GrpcServer::ReloadTls in-process (the server binary's SIGHUP is hooked to
// it elsewhere): after the certificate files are replaced and ReloadTls
// returns, a new connection is served the new certificate, while a stream
// opened before the reload goes on over its connection. A new connection is
// observed with `openssl s_client` (a separate process, so that no gRPC
// subchannel is shared with the existing stream).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dualrpc/base/blocking_executor.h"
#include "dualrpc/fileservice/file_service.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/grpc/grpc_server.h"
#include "dualrpc/grpc/registry_grpc_service.h"
#include "dualrpc/service/file_service_impl.h"
#include "dualrpc/v1/file_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_certs.h"

namespace dualrpc::grpc {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::dualrpc_testing::TempDir;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The serial number `openssl x509 -serial` prints ("serial=...").
std::string Serial(const std::string& command) {
  dualrpc_testing::CommandResult result = dualrpc_testing::RunCommand(
      {"/bin/sh", "-c", command}, "", absl::Seconds(20));
  return std::string(absl::StripAsciiWhitespace(result.stdout_text));
}

std::string FileSerial(const std::string& cert) {
  return Serial("openssl x509 -noout -serial -in '" + cert + "'");
}

// The serial of the certificate a new TLS connection to `address` is shown.
std::string ServedSerial(const std::string& address) {
  return Serial("openssl s_client -connect '" + address +
                "' -alpn h2 </dev/null 2>/dev/null | openssl x509 -noout "
                "-serial");
}

class GrpcTlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<dualrpc_testing::TestCerts> certs =
        dualrpc_testing::MakeTestCerts(cert_dir_.path());
    ASSERT_THAT(certs, IsOk());
    certs_ = *std::move(certs);
    live_.WriteFile("cert.pem", ReadAll(certs_.server_cert));
    live_.WriteFile("key.pem", ReadAll(certs_.server_key));

    absl::StatusOr<fileservice::ServedRoot> served =
        fileservice::ServedRoot::Open(root_.path());
    ASSERT_THAT(served, IsOk());
    core_ = std::make_unique<fileservice::FileServiceCore>(
        *std::move(served), fileservice::FileServiceOptions());
    service_ =
        std::make_unique<service::FileServiceImpl>(core_.get(), &executor_);
    ASSERT_THAT(v1::RegisterFileService(service_.get(), &registry_), IsOk());
    absl::StatusOr<std::vector<std::unique_ptr<::grpc::Service>>> services =
        MakeGrpcServices(registry_);
    ASSERT_THAT(services, IsOk());
    grpc_services_ = *std::move(services);

    GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls = GrpcServerTlsOptions{live_.path() + "/cert.pem",
                                       live_.path() + "/key.pem", ""};
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start(options, {grpc_services_[0].get()});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  std::unique_ptr<v1::FileService::Stub> NewStub() {
    ::grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(certs_.ca_cert);
    ::grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return v1::FileService::NewStub(::grpc::CreateCustomChannel(
        server_->address(), ::grpc::SslCredentials(ssl), args));
  }

  TempDir cert_dir_;
  TempDir live_;
  TempDir root_;
  dualrpc_testing::TestCerts certs_;
  base::BlockingExecutor executor_{{/*threads=*/1, /*max_queued=*/16}};
  std::unique_ptr<fileservice::FileServiceCore> core_;
  std::unique_ptr<service::FileServiceImpl> service_;
  rpc::ServiceRegistry registry_;
  std::vector<std::unique_ptr<::grpc::Service>> grpc_services_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(GrpcTlsReloadTest, NewConnectionsGetTheNewCertificateOldOnesStay) {
  const std::string first = FileSerial(certs_.server_cert);
  const std::string second = FileSerial(certs_.server2_cert);
  ASSERT_THAT(first, HasSubstr("serial="));
  ASSERT_NE(first, second);
  ASSERT_EQ(ServedSerial(server_->address()), first);

  std::unique_ptr<v1::FileService::Stub> stub = NewStub();
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  std::unique_ptr<::grpc::ClientReaderWriter<v1::EchoRequest, v1::EchoResponse>>
      stream = stub->EchoStream(&context);
  v1::EchoRequest request;
  v1::EchoResponse response;
  request.set_payload("before");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.payload(), "before");

  live_.WriteFile("cert.pem", ReadAll(certs_.server2_cert));
  live_.WriteFile("key.pem", ReadAll(certs_.server2_key));
  ASSERT_THAT(server_->ReloadTls(), IsOk());

  // No delay: the next handshake after ReloadTls returns has the new one.
  EXPECT_EQ(ServedSerial(server_->address()), second);
  // The stream, hence its connection, outlived the reload.
  request.set_payload("after");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.payload(), "after");
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());

  // A new channel calls over the new certificate.
  std::unique_ptr<v1::FileService::Stub> new_stub = NewStub();
  ::grpc::ClientContext echo_context;
  echo_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(20));
  v1::EchoRequest echo;
  echo.set_payload("new");
  v1::EchoResponse echo_response;
  ::grpc::Status status = new_stub->Echo(&echo_context, echo, &echo_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(echo_response.payload(), "new");
}

TEST_F(GrpcTlsReloadTest, FailedReloadKeepsTheOldCertificate) {
  const std::string first = FileSerial(certs_.server_cert);
  // A key that is not the certificate's.
  live_.WriteFile("key.pem", ReadAll(certs_.client_key));
  EXPECT_THAT(server_->ReloadTls(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not match the certificate")));
  live_.WriteFile("cert.pem", "not a certificate");
  EXPECT_THAT(server_->ReloadTls(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(live_.path() + "/cert.pem")));
  EXPECT_EQ(ServedSerial(server_->address()), first);
}

TEST(GrpcServerTlsTest, ReloadOnAPlaintextServerIsAFailedPrecondition) {
  GrpcServerOptions options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, {});
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->ReloadTls(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace dualrpc::grpc
