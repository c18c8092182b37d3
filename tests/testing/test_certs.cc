#include "testing/test_certs.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace dualrpc_testing {

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  const CommandResult result = RunCommand(
      {"/bin/sh", DUALRPC_TEST_CERTS_SCRIPT, dir}, "", absl::Seconds(30));
  if (result.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("make_test_certs.sh failed: ", result.stderr_text));
  }
  TestCerts certs;
  certs.dir = dir;
  auto path = [&dir](const char* name) { return absl::StrCat(dir, "/", name); };
  certs.ca_cert = path("ca.pem");
  certs.server_cert = path("server.pem");
  certs.server_key = path("server.key");
  certs.server2_cert = path("server2.pem");
  certs.server2_key = path("server2.key");
  certs.client_cert = path("client.pem");
  certs.client_key = path("client.key");
  certs.expired_cert = path("expired.pem");
  certs.expired_key = path("expired.key");
  certs.otherhost_cert = path("otherhost.pem");
  certs.otherhost_key = path("otherhost.key");
  certs.untrusted_cert = path("untrusted.pem");
  certs.untrusted_key = path("untrusted.key");
  certs.rogue_ca_cert = path("rogue-ca.pem");
  std::ifstream subject(path("client.subject"));
  std::stringstream text;
  text << subject.rdbuf();
  certs.client_subject =
      std::string(absl::StripTrailingAsciiWhitespace(text.str()));
  if (certs.client_subject.empty()) {
    return absl::InternalError("make_test_certs.sh wrote no client.subject");
  }
  return certs;
}

const absl::StatusOr<TestCerts>& ProcessTestCerts() {
  // Destroyed at exit, which removes the directory with them.
  static const TempDir dir;
  static const absl::StatusOr<TestCerts> certs =
      MakeTestCerts(dir.path() + "/certs");
  return certs;
}

}  // namespace dualrpc_testing
