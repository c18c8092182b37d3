#ifndef DUALRPC_TESTS_TESTING_TEST_CERTS_H_
#define DUALRPC_TESTS_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace dualrpc_testing {

// The certificates of tests/testing/make_test_certs.sh (the one generator,
// shared with the Python and Node tests), as file paths. Every *_cert has
// its *_key beside it.
struct TestCerts {
  std::string dir;
  std::string ca_cert;  // the CA that signs all but `untrusted`
  std::string server_cert, server_key;      // localhost, 127.0.0.1, ::1
  std::string server2_cert, server2_key;    // the same names, another serial
  std::string client_cert, client_key;      // mTLS client
  std::string client_subject;               // "CN=alice,O=dualrpc"
  std::string expired_cert, expired_key;    // valid only in 2020
  std::string otherhost_cert, otherhost_key;  // other.example only
  std::string untrusted_cert, untrusted_key;  // signed by rogue_ca_cert
  std::string rogue_ca_cert;
};

// Runs the generator into `dir` (created if missing). INTERNAL with the
// script's stderr if it fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

// One set for the whole test process, made on first use in a temporary
// directory removed at exit: for suites whose tests only read the
// certificates. Thread-safe.
const absl::StatusOr<TestCerts>& ProcessTestCerts();

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_TEST_CERTS_H_
