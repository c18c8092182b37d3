#include "dualrpc/auth/auth_interceptor.h"

#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::auth {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kStat[] = "/dualrpc.v1.FileService/Stat";
constexpr char kList[] = "/dualrpc.v1.FileService/ListDirectory";
constexpr char kCheck[] = "/grpc.health.v1.Health/Check";

class Context final : public rpc::ServerCallContext {
 public:
  explicit Context(rpc::Metadata metadata, std::string subject = {})
      : metadata_(std::move(metadata)), subject_(std::move(subject)) {}
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const rpc::Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return "fake"; }
  std::string peer_certificate_subject() const override { return subject_; }

 private:
  rpc::Metadata metadata_;
  std::string subject_;
};

rpc::Method MethodAt(std::string path) {
  rpc::Method method;
  method.path = std::move(path);
  return method;
}

std::vector<TokenEntry> Entries() {
  return {{"alice-token", "alice", {}, 1},
          {"bob-token", "bob", {kStat, "/grpc.reflection.v1.ServerReflection/*"}, 2}};
}

AuthInterceptor Interceptor() {
  return AuthInterceptor(true, Entries(), {kDefaultOpenMethods});
}

// Runs OnCallStart for `path` with `metadata`; the principal it set.
absl::Status Call(AuthInterceptor& auth, absl::string_view path,
                  rpc::Metadata metadata, std::string* principal = nullptr,
                  std::string subject = {}) {
  Context context(std::move(metadata), std::move(subject));
  absl::Status status = auth.OnCallStart(MethodAt(std::string(path)), &context);
  if (principal != nullptr) *principal = context.principal();
  return status;
}

rpc::Metadata Bearer(absl::string_view token) {
  return {{"authorization", absl::StrCat("Bearer ", token)}};
}

TEST(AuthInterceptorTest, RightTokenSetsThePrincipal) {
  AuthInterceptor auth = Interceptor();
  std::string principal;
  EXPECT_THAT(Call(auth, kList, Bearer("alice-token"), &principal), IsOk());
  EXPECT_EQ(principal, "alice");
  // The scheme is case-insensitive.
  EXPECT_THAT(Call(auth, kList, {{"authorization", "bEaReR bob-token"}},
                   &principal),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(auth, kStat, {{"authorization", "bearer bob-token"}},
                   &principal),
              IsOk());
  EXPECT_EQ(principal, "bob");
}

TEST(AuthInterceptorTest, WrongOrMissingTokenIsUnauthenticated) {
  AuthInterceptor auth = Interceptor();
  for (const rpc::Metadata& metadata :
       {rpc::Metadata{}, Bearer("alice-tokeN"), Bearer("alice-token-longer"),
        Bearer("alice"), rpc::Metadata{{"authorization", "Basic YWxpY2U="}},
        rpc::Metadata{{"authorization", "Bearer"}},
        rpc::Metadata{{"authorization", "Beareralice-token"}},
        rpc::Metadata{{"x-token", "alice-token"}}}) {
    absl::Status status = Call(auth, kList, metadata);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                                 AllOf(HasSubstr(kList),
                                       Not(HasSubstr("alice-token")))));
  }
}

TEST(AuthInterceptorTest, TwoAuthorizationHeadersAreRefused) {
  AuthInterceptor auth = Interceptor();
  rpc::Metadata both = Bearer("alice-token");
  both.emplace_back("authorization", "Bearer bob-token");
  EXPECT_THAT(Call(auth, kStat, both),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("more than one authorization")));
}

TEST(AuthInterceptorTest, MethodOutsideTheTokensListIsPermissionDenied) {
  AuthInterceptor auth = Interceptor();
  absl::Status status = Call(auth, kList, Bearer("bob-token"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied,
                               AllOf(HasSubstr("\"bob\""), HasSubstr(kList),
                                     Not(HasSubstr("bob-token")))));
  // A whole service in the list.
  EXPECT_THAT(Call(auth,
                   "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                   Bearer("bob-token")),
              IsOk());
}

TEST(AuthInterceptorTest, OpenMethodsNeedNoToken) {
  AuthInterceptor auth = Interceptor();
  std::string principal = "unset";
  EXPECT_THAT(Call(auth, kCheck, {}, &principal), IsOk());
  EXPECT_EQ(principal, "");
  // A valid token still names the caller; a bad one is ignored there.
  EXPECT_THAT(Call(auth, kCheck, Bearer("bob-token"), &principal), IsOk());
  EXPECT_EQ(principal, "bob");
  EXPECT_THAT(Call(auth, kCheck, Bearer("nope"), &principal), IsOk());
  EXPECT_EQ(principal, "");

  AuthInterceptor none(true, Entries(), {});
  EXPECT_THAT(Call(none, kCheck, {}),
              StatusIs(absl::StatusCode::kUnauthenticated));
  AuthInterceptor stat_open(true, Entries(), {kStat});
  EXPECT_THAT(Call(stat_open, kStat, {}), IsOk());
  EXPECT_THAT(Call(stat_open, kList, {}),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthInterceptorTest, ClientCertificateSubjectIsThePrincipalUnlessATokenIsGiven) {
  AuthInterceptor auth = Interceptor();
  std::string principal;
  EXPECT_THAT(Call(auth, kList, {}, &principal, "CN=alice,O=dualrpc"), IsOk());
  EXPECT_EQ(principal, "CN=alice,O=dualrpc");
  EXPECT_THAT(Call(auth, kStat, Bearer("bob-token"), &principal,
                   "CN=alice,O=dualrpc"),
              IsOk());
  EXPECT_EQ(principal, "bob");
  // The token wins, with its limits.
  EXPECT_THAT(Call(auth, kList, Bearer("bob-token"), &principal,
                   "CN=alice,O=dualrpc"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(auth, kList, Bearer("wrong"), &principal,
                   "CN=alice,O=dualrpc"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthInterceptorTest, WithoutATokenFileEverythingIsAllowed) {
  AuthInterceptor auth(false, {}, {kDefaultOpenMethods});
  std::string principal = "unset";
  EXPECT_THAT(Call(auth, kList, {}, &principal), IsOk());
  EXPECT_EQ(principal, "");
  EXPECT_THAT(Call(auth, kList, Bearer("anything"), &principal), IsOk());
  EXPECT_THAT(Call(auth, kList, {}, &principal, "CN=alice,O=dualrpc"), IsOk());
  EXPECT_EQ(principal, "CN=alice,O=dualrpc");
  EXPECT_THAT(auth.Reload(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(AuthInterceptorTest, EveryTokenOfManyIsFound) {
  // The lookup compares against every token; first, middle, last and
  // tokens that are prefixes or extensions of others all resolve exactly.
  std::vector<TokenEntry> entries;
  for (int i = 0; i < 200; ++i) {
    entries.push_back({absl::StrCat("tok", i), absl::StrCat("p", i), {}, i + 1});
  }
  AuthInterceptor auth(true, entries, {});
  for (int i : {0, 1, 10, 19, 100, 199}) {
    std::string principal;
    EXPECT_THAT(Call(auth, kList, Bearer(absl::StrCat("tok", i)), &principal),
                IsOk());
    EXPECT_EQ(principal, absl::StrCat("p", i));
  }
  EXPECT_THAT(Call(auth, kList, Bearer("tok")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Call(auth, kList, Bearer("tok1999")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(auth.token_count(), 200u);
}

TEST(AuthInterceptorTest, PaddingNeverMakesAMatch) {
  // Tokens are compared zero-padded to the longest one: a presented token
  // with trailing NULs, or longer than every token but agreeing with the
  // longest over its width, must still not match.
  AuthInterceptor auth(true,
                       {{"short", "s", {}, 1}, {"longer-token", "l", {}, 2}},
                       {});
  for (const std::string& token :
       {std::string("short\0", 6), std::string("short\0\0\0\0\0\0\0", 12),
        std::string("longer-token\0", 13), std::string("longer-token-x"),
        std::string(12, '\0')}) {
    EXPECT_THAT(Call(auth, kList, Bearer(token)),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << absl::CEscape(token);
  }
  std::string principal;
  EXPECT_THAT(Call(auth, kList, Bearer("short"), &principal), IsOk());
  EXPECT_EQ(principal, "s");
  EXPECT_THAT(Call(auth, kList, Bearer("longer-token"), &principal), IsOk());
  EXPECT_EQ(principal, "l");
}

void Write(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
}

TEST(AuthInterceptorTest, CreateReadsTheFileAndReloadSwapsOrKeeps) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.HostPath("tokens");
  Write(path, "old-token alice\n");
  AuthOptions options;
  options.tokens_file = path;
  absl::StatusOr<std::shared_ptr<AuthInterceptor>> auth =
      AuthInterceptor::Create(options);
  ASSERT_THAT(auth, IsOk());
  EXPECT_THAT(Call(**auth, kList, Bearer("old-token")), IsOk());

  Write(path, "new-token carol\n");
  ASSERT_THAT((*auth)->Reload(), IsOk());
  std::string principal;
  EXPECT_THAT(Call(**auth, kList, Bearer("new-token"), &principal), IsOk());
  EXPECT_EQ(principal, "carol");
  EXPECT_THAT(Call(**auth, kList, Bearer("old-token")),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // A bad file: the error, with its line, and the tokens stay.
  Write(path, "a b\nlonely-token\n");
  EXPECT_THAT((*auth)->Reload(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(path + ":2:"),
                             Not(HasSubstr("lonely-token")))));
  EXPECT_THAT(Call(**auth, kList, Bearer("new-token")), IsOk());
}

TEST(AuthInterceptorTest, ReloadWhileCallsRun) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.HostPath("tokens");
  Write(path, "t alice\n");
  AuthOptions options;
  options.tokens_file = path;
  std::shared_ptr<AuthInterceptor> auth = *AuthInterceptor::Create(options);
  std::thread caller([&] {
    for (int i = 0; i < 2000; ++i) {
      absl::Status status = Call(*auth, kList, Bearer("t"));
      ASSERT_THAT(status, IsOk());
    }
  });
  for (int i = 0; i < 50; ++i) ASSERT_THAT(auth->Reload(), IsOk());
  caller.join();
}

TEST(AuthInterceptorTest, CreateRefusesBadOpenMethodsAndMissingFiles) {
  AuthOptions bad_open;
  bad_open.open_methods = {"health"};
  EXPECT_THAT(AuthInterceptor::Create(bad_open),
              StatusIs(absl::StatusCode::kInvalidArgument));
  AuthOptions missing;
  missing.tokens_file = "/nonexistent/tokens";
  EXPECT_THAT(AuthInterceptor::Create(missing),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace dualrpc::auth
