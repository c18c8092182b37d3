#include "dualrpc/log/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/service_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace dualrpc::log {
namespace {

using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 2026-12-02T02:14:07.123456Z
const absl::Time kEnd = absl::FromUnixMicros(1796177647123456);

AccessLogEntry SampleEntry() {
  AccessLogEntry entry;
  entry.time = kEnd;
  entry.transport = "raw";
  entry.peer = "ipv4:127.0.0.1:5555";
  entry.method = "/dualrpc.v1.FileService/Echo";
  entry.code = absl::StatusCode::kOk;
  entry.duration = absl::Microseconds(123);
  entry.request_bytes = 12;
  entry.response_bytes = 13;
  entry.request_messages = 1;
  entry.response_messages = 2;
  entry.principal = "alice";
  entry.error = "ignored when OK";
  return entry;
}

std::string Line(AccessLogFormat format, const AccessLogEntry& entry) {
  std::string line;
  AppendAccessLogLine(format, entry, &line);
  return line;
}

std::string Logfmt(absl::string_view value) {
  std::string out;
  AppendLogfmtValue(value, &out);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(AccessLogFormatTest, LogfmtHasEveryFieldInOrder) {
  EXPECT_EQ(Line(AccessLogFormat::kLogfmt, SampleEntry()),
            "time=2026-12-02T02:14:07.123456Z transport=raw "
            "peer=ipv4:127.0.0.1:5555 method=/dualrpc.v1.FileService/Echo "
            "code=OK duration_s=0.000123 request_bytes=12 response_bytes=13 "
            "request_messages=1 response_messages=2 principal=alice\n");
}

TEST(AccessLogFormatTest, ErrorOnlyWhenNotOkAndEmptyPrincipalQuoted) {
  AccessLogEntry entry = SampleEntry();
  entry.transport = "grpc";
  entry.peer = "ipv6:[::1]:40000";
  entry.code = absl::StatusCode::kNotFound;
  entry.error = "no such directory: \"x\"";
  entry.principal = "";
  entry.duration = absl::Seconds(12) + absl::Microseconds(5) +
                   absl::Nanoseconds(999);  // below a microsecond: cut
  EXPECT_EQ(Line(AccessLogFormat::kLogfmt, entry),
            "time=2026-12-02T02:14:07.123456Z transport=grpc "
            "peer=ipv6:[::1]:40000 method=/dualrpc.v1.FileService/Echo "
            "code=NOT_FOUND duration_s=12.000005 request_bytes=12 "
            "response_bytes=13 request_messages=1 response_messages=2 "
            "principal=\"\" error=\"no such directory: \\\"x\\\"\"\n");
}

TEST(AccessLogFormatTest, EveryCodeByItsGrpcName) {
  AccessLogEntry entry = SampleEntry();
  entry.code = absl::StatusCode::kUnauthenticated;
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr(" code=UNAUTHENTICATED "));
  entry.code = absl::StatusCode::kFailedPrecondition;
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr(" code=FAILED_PRECONDITION "));
}

TEST(AccessLogFormatTest, TimeIsUtcMicrosecondsAcrossSeconds) {
  // The per-second cache must not leak one second into the next.
  AccessLogEntry entry = SampleEntry();
  entry.time = absl::FromUnixMicros(0);
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr("time=1970-01-01T00:00:00.000000Z "));
  entry.time = absl::FromUnixMicros(999999);
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr("time=1970-01-01T00:00:00.999999Z "));
  entry.time = absl::FromUnixMicros(1000000);
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr("time=1970-01-01T00:00:01.000000Z "));
  entry.time = kEnd + absl::Hours(24 * 30);
  EXPECT_THAT(Line(AccessLogFormat::kLogfmt, entry),
              HasSubstr("time=2027-01-01T02:14:07.123456Z "));
}

TEST(AccessLogFormatTest, LogfmtQuotingAndEscapes) {
  EXPECT_EQ(Logfmt("alice"), "alice");
  EXPECT_EQ(Logfmt(""), "\"\"");
  EXPECT_EQ(Logfmt("a b"), "\"a b\"");
  EXPECT_EQ(Logfmt("CN=alice,O=x"), "\"CN=alice,O=x\"");
  EXPECT_EQ(Logfmt("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(Logfmt("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(Logfmt("one\ntwo"), "\"one\\ntwo\"");
  EXPECT_EQ(Logfmt("a\tb"), "\"a\\tb\"");
  EXPECT_EQ(Logfmt(absl::string_view("a\0b\r\x7f", 5)),
            "\"a\\x00b\\x0d\\x7f\"");
  // Valid UTF-8 stays as it is; other bytes are escaped one by one.
  EXPECT_EQ(Logfmt("r\xC3\xA9sum\xC3\xA9"), "r\xC3\xA9sum\xC3\xA9");
  EXPECT_EQ(Logfmt("\xE2\x82\xAC 5"), "\"\xE2\x82\xAC 5\"");
  EXPECT_EQ(Logfmt("a\xFF"), "\"a\\xff\"");
  EXPECT_EQ(Logfmt("\xC3"), "\"\\xc3\"");           // truncated sequence
  EXPECT_EQ(Logfmt("\xC0\xAF"), "\"\\xc0\\xaf\"");  // overlong '/'
  EXPECT_EQ(Logfmt("\xED\xA0\x80"), "\"\\xed\\xa0\\x80\"");  // surrogate
}

TEST(AccessLogFormatTest, JsonParsesBackWithTheSameValues) {
  AccessLogEntry entry = SampleEntry();
  entry.code = absl::StatusCode::kPermissionDenied;
  entry.error = "not for you\n\"quoted\"";
  entry.principal = "CN=alice,O=dualrpc";
  const std::string line = Line(AccessLogFormat::kJson, entry);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const nlohmann::ordered_json json = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& item : json.items()) keys.push_back(item.key());
  EXPECT_THAT(keys, ElementsAre("time", "transport", "peer", "method", "code",
                                "duration_s", "request_bytes", "response_bytes",
                                "request_messages", "response_messages",
                                "principal", "error"));
  EXPECT_EQ(json["time"], "2026-12-02T02:14:07.123456Z");
  EXPECT_EQ(json["transport"], "raw");
  EXPECT_EQ(json["peer"], "ipv4:127.0.0.1:5555");
  EXPECT_EQ(json["method"], "/dualrpc.v1.FileService/Echo");
  EXPECT_EQ(json["code"], "PERMISSION_DENIED");
  ASSERT_TRUE(json["duration_s"].is_number_float());
  EXPECT_DOUBLE_EQ(json["duration_s"].get<double>(), 0.000123);
  EXPECT_EQ(json["request_bytes"], 12);
  EXPECT_EQ(json["response_bytes"], 13);
  EXPECT_EQ(json["request_messages"], 1);
  EXPECT_EQ(json["response_messages"], 2);
  EXPECT_EQ(json["principal"], "CN=alice,O=dualrpc");
  EXPECT_EQ(json["error"], "not for you\n\"quoted\"");
}

TEST(AccessLogFormatTest, JsonOkHasNoErrorAndNonUtf8IsReplaced) {
  AccessLogEntry entry = SampleEntry();
  entry.peer = "bad\xFFpeer";
  const nlohmann::json json =
      nlohmann::json::parse(Line(AccessLogFormat::kJson, entry));
  EXPECT_FALSE(json.contains("error"));
  EXPECT_EQ(json["peer"], "bad\xEF\xBF\xBDpeer");  // U+FFFD
}

TEST(AccessLogFormatTest, ParseFormat) {
  EXPECT_THAT(ParseAccessLogFormat("logfmt"),
              IsOkAndHolds(AccessLogFormat::kLogfmt));
  EXPECT_THAT(ParseAccessLogFormat("json"),
              IsOkAndHolds(AccessLogFormat::kJson));
  EXPECT_THAT(ParseAccessLogFormat("xml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("xml")));
}

// ---- AccessLog -------------------------------------------------------------

std::unique_ptr<AccessLog> MustCreate(AccessLogOptions options) {
  absl::StatusOr<std::unique_ptr<AccessLog>> log =
      AccessLog::Create(std::move(options));
  EXPECT_THAT(log, IsOk());
  return log.ok() ? *std::move(log) : nullptr;
}

TEST(AccessLogTest, CreateNamesAnUnopenablePath) {
  dualrpc_testing::TempDir dir;
  AccessLogOptions options;
  options.path = dir.path() + "/missing/access.log";
  EXPECT_THAT(
      AccessLog::Create(options),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(options.path)));
  options.path = dir.path() + "/access.log";
  options.buffer_bytes = 0;
  EXPECT_THAT(AccessLog::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AccessLogTest, DestructionWritesEveryQueuedLineAndAppends) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  dir.WriteFile("access.log", "earlier\n");
  {
    AccessLogOptions options;
    options.path = path;
    std::unique_ptr<AccessLog> log = MustCreate(options);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 1000; ++i) log->Append(absl::StrCat("line ", i, "\n"));
  }
  const std::vector<std::string> lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), 1001u);
  EXPECT_EQ(lines[0], "earlier");
  EXPECT_EQ(lines[1], "line 0");
  EXPECT_EQ(lines[1000], "line 999");
}

TEST(AccessLogTest, ConcurrentLinesAreNeverInterleaved) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  AccessLogOptions options;
  options.path = path;
  std::unique_ptr<AccessLog> log = MustCreate(options);
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4;
  constexpr int kLinesEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      const std::string body(100, static_cast<char>('a' + t));
      for (int i = 0; i < kLinesEach; ++i) log->Append(body + "\n");
    });
  }
  for (std::thread& thread : threads) thread.join();
  log->Flush();
  const std::vector<std::string> lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLinesEach));
  for (const std::string& line : lines) {
    ASSERT_EQ(line.size(), 100u);
    ASSERT_EQ(line, std::string(100, line[0]));
  }
  EXPECT_EQ(log->dropped_lines(), 0);
}

// The claim: Append never waits for the file. The writer is stuck on a
// FIFO nobody reads; appending far more than the pipe and the queue hold
// must still return (the timeout fails the test if it blocks), dropping and
// counting what does not fit.
TEST(AccessLogTest, FullQueueDropsAndCountsWithoutBlocking) {
  dualrpc_testing::TempDir dir;
  const std::string fifo = dir.path() + "/stuck.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Held open and never read, so that the writer's open does not wait.
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  AccessLogOptions options;
  options.path = fifo;
  options.buffer_bytes = 4096;
  std::unique_ptr<AccessLog> log = MustCreate(options);
  ASSERT_NE(log, nullptr);

  constexpr int kLines = 100000;  // 10 MB: far beyond pipe and queue
  const std::string line = std::string(99, 'x') + "\n";
  absl::Notification appended;
  std::thread caller([&] {
    for (int i = 0; i < kLines; ++i) log->Append(line);
    appended.Notify();
  });
  const bool returned =
      appended.WaitForNotificationWithTimeout(dualrpc_testing::kWaitTimeout);
  // Unblocks the writer (EPIPE) so that everything can be torn down.
  ::close(reader);
  if (!returned) {
    ADD_FAILURE() << "Append blocked on a writer that cannot write";
    appended.WaitForNotification();
  }
  caller.join();
  // At most the pipe (64 KiB by default, 1 MiB at most unprivileged), one
  // batch and the queue's 4 KiB can have been taken.
  constexpr int kAtMostTaken = (1024 * 1024 + 2 * 4096) / 100;
  EXPECT_GE(log->dropped_lines(), kLines - kAtMostTaken);
  EXPECT_LE(log->dropped_lines(), kLines);
  log.reset();  // returns: the closed pipe fails the writer's write
}

// logrotate: rename the file, then Reopen (SIGHUP): new lines go to a new
// file at the old path, old lines stay in the renamed one.
TEST(AccessLogTest, ReopenAfterRenameWritesToTheNewFile) {
  dualrpc_testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  AccessLogOptions options;
  options.path = path;
  std::unique_ptr<AccessLog> log = MustCreate(options);
  ASSERT_NE(log, nullptr);
  log->Append("before\n");
  log->Flush();
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  log->Append("between\n");  // queued before Reopen: the old file
  ASSERT_THAT(log->Reopen(), IsOk());
  log->Append("after\n");
  log->Flush();
  EXPECT_THAT(Lines(ReadFile(path + ".1")), ElementsAre("before", "between"));
  EXPECT_THAT(Lines(ReadFile(path)), ElementsAre("after"));
}

TEST(AccessLogTest, FailedReopenKeepsTheOldFile) {
  dualrpc_testing::TempDir dir;
  dir.MakeDir("logs");
  const std::string path = dir.path() + "/logs/access.log";
  AccessLogOptions options;
  options.path = path;
  std::unique_ptr<AccessLog> log = MustCreate(options);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(std::rename((dir.path() + "/logs").c_str(),
                        (dir.path() + "/moved").c_str()),
            0);
  EXPECT_THAT(log->Reopen(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path)));
  log->Append("still here\n");
  log->Flush();
  EXPECT_THAT(Lines(ReadFile(dir.path() + "/moved/access.log")),
              ElementsAre("still here"));
}

// Entries are queued as records and formatted by the writer, which caches
// each call site (transport, peer, method): every line must still be what
// AppendAccessLogLine gives for its entry, in queue order, whatever the
// mix of call sites, quoting, codes and sizes. Call sites whose fields
// concatenate to the same bytes must not share a cache entry.
TEST(AccessLogTest, QueuedEntriesAreTheLinesAppendAccessLogLineGives) {
  for (AccessLogFormat format :
       {AccessLogFormat::kLogfmt, AccessLogFormat::kJson}) {
    dualrpc_testing::TempDir dir;
    AccessLogOptions options;
    options.path = dir.path() + "/access.log";
    options.format = format;
    std::unique_ptr<AccessLog> log = MustCreate(options);
    ASSERT_NE(log, nullptr);
    const std::vector<std::vector<std::string>> call_sites = {
        {"raw", "ipv4:127.0.0.1:5555", "/dualrpc.v1.FileService/Echo"},
        {"raw", "ipv4:127.0.0.1:5556", "/dualrpc.v1.FileService/Echo"},
        {"grpc", "ipv6:[::1]:4242", "/dualrpc.v1.FileService/ListDirectory"},
        // The same bytes as the first, split differently.
        {"raw", "ipv4:127.0.0.1:5555/dualrpc.v1.FileService", "/Echo"},
        {"ra", "wipv4:127.0.0.1:5555", "/dualrpc.v1.FileService/Echo"},
        {"raw", "peer with \"quotes\" and \xff", "/odd method"},
        {"", "", ""},
    };
    std::string expected;
    AccessLogEntry entry = SampleEntry();
    for (int i = 0; i < 200; ++i) {
      const std::vector<std::string>& site = call_sites[i % call_sites.size()];
      entry.transport = site[0];
      entry.peer = site[1];
      entry.method = site[2];
      entry.time = kEnd + absl::Microseconds(i * 977);
      entry.duration = absl::Microseconds(i * i * 37);
      entry.code = static_cast<absl::StatusCode>(i % 17);
      const std::string error = absl::StrCat("error ", i, " \"quoted\"");
      entry.error = error;
      const std::string principal = i % 3 == 0 ? "" : absl::StrCat("user", i);
      entry.principal = principal;
      entry.request_bytes = std::int64_t{1} << (i % 63);
      entry.response_bytes = i * 1001;
      entry.request_messages = i % 10;
      entry.response_messages = 100 - i;
      AppendAccessLogLine(format, entry, &expected);
      log->Append(entry);
      if (i == 100) log->Append("a line as it is\n");
    }
    log->Flush();
    std::vector<std::string> want = Lines(expected);
    want.insert(want.begin() + 101, "a line as it is");
    EXPECT_EQ(Lines(ReadFile(options.path)), want)
        << (format == AccessLogFormat::kJson ? "json" : "logfmt");
  }
}

// ---- AccessLogInterceptor --------------------------------------------------

class FakeContext final : public rpc::ServerCallContext {
 public:
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  bool IsCancelled() const override { return false; }
  const rpc::Metadata& request_metadata() const override { return metadata_; }
  void AddResponseMetadata(std::string, std::string) override {}
  std::string peer() const override { return "ipv4:10.0.0.1:4242"; }
  absl::string_view transport() const override { return "grpc"; }

 private:
  rpc::Metadata metadata_;
};

TEST(AccessLogInterceptorTest, OneLinePerCallFromTheRecord) {
  dualrpc_testing::TempDir dir;
  AccessLogOptions options;
  options.path = dir.path() + "/access.log";
  std::unique_ptr<AccessLog> log = MustCreate(options);
  ASSERT_NE(log, nullptr);
  AccessLogInterceptor interceptor(log.get());
  EXPECT_TRUE(interceptor.wants_call_end());

  rpc::Method method;
  method.path = "/dualrpc.v1.FileService/ListDirectory";
  FakeContext context;
  EXPECT_THAT(interceptor.OnCallStart(method, &context), IsOk());
  context.set_principal("bob smith");
  rpc::CallRecord record;
  record.method = &method;
  record.context = &context;
  record.status = absl::NotFoundError("no such directory");
  record.start = kEnd - absl::Milliseconds(2);
  record.duration = absl::Milliseconds(2);
  record.request_messages = 1;
  record.request_bytes = 7;
  interceptor.OnCallEnd(record);
  record.status = absl::OkStatus();
  record.response_messages = 3;
  record.response_bytes = 300;
  interceptor.OnCallEnd(record);
  log->Flush();
  EXPECT_THAT(
      Lines(ReadFile(options.path)),
      ElementsAre(
          "time=2026-12-02T02:14:07.123456Z transport=grpc "
          "peer=ipv4:10.0.0.1:4242 "
          "method=/dualrpc.v1.FileService/ListDirectory "
          "code=NOT_FOUND duration_s=0.002000 request_bytes=7 response_bytes=0 "
          "request_messages=1 response_messages=0 principal=\"bob smith\" "
          "error=\"no such directory\"",
          "time=2026-12-02T02:14:07.123456Z transport=grpc "
          "peer=ipv4:10.0.0.1:4242 "
          "method=/dualrpc.v1.FileService/ListDirectory "
          "code=OK duration_s=0.002000 request_bytes=7 response_bytes=300 "
          "request_messages=1 response_messages=3 principal=\"bob smith\""));
}

}  // namespace
}  // namespace dualrpc::log
