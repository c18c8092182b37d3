// What the shared port decides from a connection's first bytes.

#include <string>

#include "dualrpc/server/shared_port.h"
#include "gtest/gtest.h"

namespace dualrpc::server {
namespace {

TEST(SniffProtocolTest, WholeMagicsDecide) {
  EXPECT_EQ(SniffProtocol("DRPC"), SniffResult::kRaw);
  EXPECT_EQ(SniffProtocol(std::string("DRPC\x01\x01\x00\x00", 8)),
            SniffResult::kRaw);
  EXPECT_EQ(SniffProtocol(kHttp2ClientPreface), SniffResult::kHttp2);
  EXPECT_EQ(SniffProtocol(std::string(kHttp2ClientPreface) + "\x00\x00\x12"),
            SniffResult::kHttp2);
}

// Only the whole magic decides, so one byte and silence waits for the
// detect timeout rather than reaching a server's much longer idle timeout.
TEST(SniffProtocolTest, PrefixesWait) {
  EXPECT_EQ(SniffProtocol(""), SniffResult::kUndecided);
  EXPECT_EQ(SniffProtocol("D"), SniffResult::kUndecided);
  EXPECT_EQ(SniffProtocol("DRP"), SniffResult::kUndecided);
  EXPECT_EQ(SniffProtocol("P"), SniffResult::kUndecided);
  EXPECT_EQ(SniffProtocol("PRI * HTTP/2.0\r\n\r\nSM\r\n\r"),
            SniffResult::kUndecided);
}

TEST(SniffProtocolTest, AnythingElseIsNeitherAtOnce) {
  EXPECT_EQ(SniffProtocol("G"), SniffResult::kNeither);
  EXPECT_EQ(SniffProtocol("GET / HTTP/1.1\r\n"), SniffResult::kNeither);
  EXPECT_EQ(SniffProtocol("DRPX"), SniffResult::kNeither);
  EXPECT_EQ(SniffProtocol("PRI * HTTP/1.1"), SniffResult::kNeither);
  // A TLS ClientHello on a plaintext port.
  EXPECT_EQ(SniffProtocol("\x16\x03\x01"), SniffResult::kNeither);
}

}  // namespace
}  // namespace dualrpc::server
