// dualrpc::log on the real stderr (fd 2 redirected to a file for the test):
// the words ParseLevel accepts, the line format, one line per Write with
// newlines replaced, the level filter, and whole lines from many threads.

#include "dualrpc/log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace dualrpc::log {
namespace {

using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Points fd 2 at a file while it lives; Lines() is what was written there.
class CapturedStderr {
 public:
  CapturedStderr() : path_(dir_.HostPath("stderr")) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~CapturedStderr() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    // Back to the defaults for the next test.
    Init(LogOptions());
  }

  std::string Text() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Each line without its newline; the text must end in one.
  std::vector<std::string> Lines() const {
    std::string text = Text();
    if (text.empty()) return {};
    EXPECT_EQ(text.back(), '\n') << text;
    text.pop_back();
    return absl::StrSplit(text, '\n');
  }

 private:
  dualrpc_testing::TempDir dir_;
  std::string path_;
  int saved_ = -1;
};

// One line as log.h promises it: UTC time with milliseconds, level,
// program, message.
::testing::AssertionResult IsLogLine(const std::string& line,
                                     const std::string& level,
                                     const std::string& program,
                                     const std::string& message) {
  static const std::regex kLine(
      R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info|warning|error) ([^:]+): (.*)$)");
  std::smatch match;
  if (!std::regex_match(line, match, kLine)) {
    return ::testing::AssertionFailure()
           << "not a log line: \"" << line << "\"";
  }
  if (match[2] != level || match[3] != program || match[4] != message) {
    return ::testing::AssertionFailure()
           << "\"" << line << "\" is not " << level << " " << program << ": "
           << message;
  }
  return ::testing::AssertionSuccess();
}

TEST(ParseLevelTest, AcceptsTheFourWordsInAnyCase) {
  EXPECT_THAT(ParseLevel("debug"), IsOkAndHolds(Level::kDebug));
  EXPECT_THAT(ParseLevel("info"), IsOkAndHolds(Level::kInfo));
  EXPECT_THAT(ParseLevel("warning"), IsOkAndHolds(Level::kWarning));
  EXPECT_THAT(ParseLevel("warn"), IsOkAndHolds(Level::kWarning));
  EXPECT_THAT(ParseLevel("ERROR"), IsOkAndHolds(Level::kError));
  EXPECT_THAT(ParseLevel("Info"), IsOkAndHolds(Level::kInfo));
}

TEST(ParseLevelTest, RefusesOtherWordsNamingTheAcceptedOnes) {
  for (const char* word : {"", "verbose", "fatal", "infos", " info"}) {
    EXPECT_THAT(ParseLevel(word),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("debug, info, warning or error")))
        << word;
  }
}

TEST(ParseLevelTest, LevelNameReadsBack) {
  for (Level level :
       {Level::kDebug, Level::kInfo, Level::kWarning, Level::kError}) {
    EXPECT_THAT(ParseLevel(LevelName(level)), IsOkAndHolds(level));
  }
  EXPECT_EQ(LevelName(Level::kWarning), "warning");
}

TEST(LogTest, WritesOneTimestampedLinePerEvent) {
  CapturedStderr captured;
  Init({"log-test", Level::kDebug});
  Info("listening on %s:%d", "127.0.0.1", 5555);
  Warning("reload failed");
  Error("cannot %s", "listen");
  Debug("detail %d", 7);
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_THAT(lines, SizeIs(4)) << captured.Text();
  EXPECT_TRUE(
      IsLogLine(lines[0], "info", "log-test", "listening on 127.0.0.1:5555"));
  EXPECT_TRUE(IsLogLine(lines[1], "warning", "log-test", "reload failed"));
  EXPECT_TRUE(IsLogLine(lines[2], "error", "log-test", "cannot listen"));
  EXPECT_TRUE(IsLogLine(lines[3], "debug", "log-test", "detail 7"));
}

TEST(LogTest, NewlinesInAMessageBecomeSpaces) {
  CapturedStderr captured;
  Init({"log-test", Level::kInfo});
  Write(Level::kInfo, "first\nsecond\r\nthird\n");
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_THAT(lines, SizeIs(1)) << captured.Text();
  EXPECT_TRUE(IsLogLine(lines[0], "info", "log-test", "first second  third "));
}

TEST(LogTest, LinesBelowTheLevelAreNotWritten) {
  CapturedStderr captured;
  Init({"log-test", Level::kWarning});
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarning));
  EXPECT_TRUE(Enabled(Level::kError));
  Info("hidden");
  Debug("hidden");
  Write(Level::kInfo, "hidden too");
  Warning("shown");
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_THAT(lines, SizeIs(1)) << captured.Text();
  EXPECT_TRUE(IsLogLine(lines[0], "warning", "log-test", "shown"));
}

TEST(LogTest, DefaultsBeforeInit) {
  // ctest runs each case in its own process: no Init has run here (and in
  // a whole-binary run, the previous case's ~CapturedStderr restored them).
  CapturedStderr captured;
  EXPECT_TRUE(Enabled(Level::kInfo));
  EXPECT_FALSE(Enabled(Level::kDebug));
  Info("hello");
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_THAT(lines, SizeIs(1)) << captured.Text();
  EXPECT_TRUE(IsLogLine(lines[0], "info", "dualrpc", "hello"));
}

TEST(LogTest, LinesFromManyThreadsStayWhole) {
  CapturedStderr captured;
  Init({"log-test", Level::kInfo});
  constexpr int kThreads = 8;
  constexpr int kLinesEach = 200;
  const std::string filler(300, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLinesEach; ++i) Info("t%d i%d %s", t, i, filler);
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_THAT(lines, SizeIs(kThreads * kLinesEach));
  std::vector<int> seen(kThreads, 0);
  for (const std::string& line : lines) {
    int t = -1;
    int i = -1;
    ASSERT_EQ(
        std::sscanf(line.c_str() + line.find(": t") + 3, "%d i%d", &t, &i), 2)
        << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_TRUE(IsLogLine(line, "info", "log-test",
                          absl::StrCat("t", t, " i", i, " ", filler)));
    // Each thread's lines in its own order.
    EXPECT_EQ(i, seen[t]++) << line;
  }
}

}  // namespace
}  // namespace dualrpc::log
