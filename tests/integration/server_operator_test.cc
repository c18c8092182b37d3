// dualrpc-server, dualrpc-bench and the dualrpc CLI as an operator runs them
// (issue 13 §1, §2): --help lists every flag with its default, --version
// names the version and this build's type, every bad flag value and stray
// argument is a usage error (exit 2) before anything listens, a busy port
// is an error on both transports (exit 1) while the first server keeps
// serving, SIGHUP with nothing to reload is logged and survived, and the
// process log's lines are timestamped and leveled under --log_level.

#include <signal.h>
#include <sys/stat.h>

#include <cctype>
#include <map>
#include <memory>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

#ifndef DUALRPC_TEST_VERSION
#error "DUALRPC_TEST_VERSION must be CMake's PROJECT_VERSION"
#endif
#ifndef DUALRPC_TEST_BUILD_TYPE
#error "DUALRPC_TEST_BUILD_TYPE must be CMake's CMAKE_BUILD_TYPE"
#endif

namespace dualrpc::server {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::IsOkAndHolds;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::ServerProcess;
using ::dualrpc_testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// A run that must end promptly: a usage error, a busy port. A server that
// wrongly starts is killed after this and shows as exit -1.
constexpr absl::Duration kShortRun = absl::Seconds(20);

// One flag's entry in Abseil's --help / --helpfull output:
//   "  Flags from FILE:" then "    --name (help...); default: value;"
// with continuation lines indented further.
struct HelpEntry {
  std::string file;
  std::string text;  // the entry's lines, joined
};

std::map<std::string, HelpEntry> ParseAbseilHelp(const std::string& output) {
  std::map<std::string, HelpEntry> entries;
  std::string file;
  HelpEntry* current = nullptr;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "  Flags from ") &&
        absl::ConsumeSuffix(&rest, ":")) {
      file = std::string(rest);
      current = nullptr;
    } else if (absl::ConsumePrefix(&rest, "    --")) {
      const std::string name(rest.substr(0, rest.find_first_of(" (")));
      current = &entries[name];
      current->file = file;
      current->text = std::string(line);
    } else if (current != nullptr && absl::StartsWith(line, "      ")) {
      absl::StrAppend(&current->text, " ",
                      absl::StripLeadingAsciiWhitespace(line));
    } else {
      current = nullptr;
    }
  }
  return entries;
}

// The flags `binary` defines itself (--helpfull's, but Abseil's own).
std::vector<std::string> OwnFlags(const std::string& binary) {
  const CommandResult full = RunCommand({binary, "--helpfull"}, "", kShortRun);
  EXPECT_EQ(full.exit_code, 0) << full.stderr_text;
  std::vector<std::string> names;
  for (const auto& [name, entry] : ParseAbseilHelp(full.stdout_text)) {
    if (!absl::StartsWith(entry.file, "absl/")) names.push_back(name);
  }
  return names;
}

// --help lists each of `expected` (and --helpfull's own flags) with its
// default, exit 0.
void ExpectHelpListsEveryFlag(const std::string& binary,
                              const std::vector<std::string>& expected) {
  const std::vector<std::string> own = OwnFlags(binary);
  for (const std::string& name : expected) {
    EXPECT_THAT(own, ::testing::Contains(name)) << binary << " --helpfull";
  }
  const CommandResult help = RunCommand({binary, "--help"}, "", kShortRun);
  EXPECT_EQ(help.exit_code, 0) << help.stderr_text;
  EXPECT_THAT(help.stdout_text, Not(HasSubstr("No flags matched")));
  const std::map<std::string, HelpEntry> listed =
      ParseAbseilHelp(help.stdout_text);
  for (const std::string& name : own) {
    auto entry = listed.find(name);
    ASSERT_NE(entry, listed.end())
        << binary << " --help does not list --" << name << ":\n"
        << help.stdout_text;
    EXPECT_THAT(entry->second.text, HasSubstr("default: ")) << name;
    EXPECT_THAT(entry->second.file, Not(HasSubstr("../"))) << name;
  }
}

void ExpectVersion(const std::string& program) {
  const CommandResult version =
      RunCommand({BinaryPath(program), "--version"}, "", kShortRun);
  EXPECT_EQ(version.exit_code, 0) << version.stderr_text;
  EXPECT_EQ(version.stdout_text,
            absl::StrCat(program, " " DUALRPC_TEST_VERSION " (",
                         DUALRPC_TEST_BUILD_TYPE, " build)\n"));
  EXPECT_THAT(version.stdout_text, Not(HasSubstr("NDEBUG")));
}

// Every line of a process log as log.h writes it, with the program's name.
void ExpectLogLines(const std::string& log, const std::string& program) {
  const std::regex line_format(
      absl::StrCat(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z )"
                   R"((debug|info|warning|error) )",
                   program, ": .*$"));
  std::vector<absl::string_view> lines = absl::StrSplit(log, '\n');
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "") << "the log does not end in a newline";
  lines.pop_back();
  for (absl::string_view line : lines) {
    EXPECT_TRUE(std::regex_match(std::string(line), line_format))
        << "not a log line: \"" << line << "\"";
  }
}

// The CLI's `ls` of `target`'s root: its names, or "exit N: stderr".
std::string LsThrough(const std::string& target) {
  const CommandResult ls = RunCommand(
      {BinaryPath("dualrpc"), "ls", "--target=" + target}, "", kShortRun);
  if (ls.exit_code != 0) {
    return absl::StrCat("exit ", ls.exit_code, ": ", ls.stderr_text);
  }
  return ls.stdout_text;
}

class ServerOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.WriteFile("first-root", "");
    other_root_.WriteFile("second-root", "");
  }

  // dualrpc-server on port 0 for both transports plus `flags`, with its
  // ready file in scratch_: the whole run, up to kShortRun.
  CommandResult RunServer(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {
        BinaryPath("dualrpc-server"), "--root=" + other_root_.path(),
        "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0",
        "--ready_file=" + ReadyPath()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunCommand(argv, "", kShortRun);
  }

  std::string ReadyPath() const { return scratch_.HostPath("second.ready"); }
  bool ReadyFileWritten() const {
    struct stat info;
    return ::stat(ReadyPath().c_str(), &info) == 0;
  }

  TempDir root_;
  TempDir other_root_;
  TempDir scratch_;
};

// ---- --help, --version, stray arguments -----------------------------------

TEST(ProgramInfoTest, ServerHelpListsEveryFlagWithItsDefault) {
  ExpectHelpListsEveryFlag(
      BinaryPath("dualrpc-server"),
      {"root", "grpc_listen", "raw_listen", "listen", "max_message_bytes",
       "raw_threads", "blocking_queue", "shutdown_grace", "log_level",
       "tls_cert", "auth_tokens"});
}

TEST(ProgramInfoTest, BenchHelpListsEveryFlagWithItsDefault) {
  ExpectHelpListsEveryFlag(BinaryPath("dualrpc-bench"),
                           {"scenario", "json", "transports", "repetitions",
                            "duration_scale", "server_wrapper"});
}

TEST(ProgramInfoTest, CliHelpListsEveryFlagWithItsDefault) {
  // The CLI parses its own command line (no --helpfull): its flags, as
  // src/dualrpc/cli/main.cc defines them.
  const std::vector<std::string> flags = {"target",
                                          "timeout",
                                          "json",
                                          "page_size",
                                          "no_follow_pages",
                                          "l",
                                          "R",
                                          "d",
                                          "proto",
                                          "import_path",
                                          "protoset",
                                          "v",
                                          "format",
                                          "emit_defaults",
                                          "msg_template",
                                          "max_time",
                                          "connect_timeout",
                                          "keepalive_time",
                                          "authority",
                                          "plaintext",
                                          "cacert",
                                          "cert",
                                          "key",
                                          "insecure",
                                          "servername"};
  const CommandResult help =
      RunCommand({BinaryPath("dualrpc"), "--help"}, "", kShortRun);
  EXPECT_EQ(help.exit_code, 0) << help.stderr_text;
  std::map<std::string, std::string> listed;
  for (absl::string_view line : absl::StrSplit(help.stdout_text, '\n')) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "  --")) continue;
    listed[std::string(rest.substr(0, rest.find(' ')))] = std::string(line);
  }
  for (const std::string& name : flags) {
    ASSERT_TRUE(listed.count(name) == 1)
        << "dualrpc --help does not list --" << name << ":\n"
        << help.stdout_text;
    EXPECT_THAT(listed[name], HasSubstr("; default: ")) << name;
  }
}

TEST(ProgramInfoTest, VersionNamesTheVersionAndThisBuildsType) {
  ExpectVersion("dualrpc-server");
  ExpectVersion("dualrpc-bench");
  ExpectVersion("dualrpc");
}

TEST(ProgramInfoTest, StrayArgumentsAreUsageErrors) {
  TempDir scratch;
  const CommandResult server =
      RunCommand({BinaryPath("dualrpc-server"), "--grpc_listen=127.0.0.1:0",
                  "--raw_listen=127.0.0.1:0",
                  "--ready_file=" + scratch.HostPath("ready"), "stray"},
                 "", kShortRun);
  EXPECT_EQ(server.exit_code, 2) << server.stderr_text;
  EXPECT_THAT(server.stderr_text, HasSubstr("unexpected argument \"stray\""));
  struct stat info;
  EXPECT_NE(::stat(scratch.HostPath("ready").c_str(), &info), 0);

  const CommandResult bench =
      RunCommand({BinaryPath("dualrpc-bench"), "stray"}, "", kShortRun);
  EXPECT_EQ(bench.exit_code, 2) << bench.stderr_text;
  EXPECT_THAT(bench.stderr_text, HasSubstr("unexpected argument \"stray\""));

  const CommandResult cli = RunCommand(
      {BinaryPath("dualrpc"), "echo", "one", "stray"}, "", kShortRun);
  EXPECT_EQ(cli.exit_code, 2) << cli.stderr_text;
  EXPECT_THAT(cli.stderr_text, HasSubstr("too many arguments for echo"));
}

TEST(ProgramInfoTest, BenchRefusesBadFlagValuesBeforeRunning) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--repetitions=-1", "--repetitions"},
      {"--repetitions=many", "'repetitions'"},
      {"--duration_scale=0", "--duration_scale"},
      {"--transports=raw,carrier-pigeon", "--transports"},
      {"--groups=no-such-group", "--groups"},
      {"--payloads=12,big", "--payloads"},
      {"--scenario=huge", "huge"}};
  for (const auto& [flag, named] : cases) {
    const CommandResult bench =
        RunCommand({BinaryPath("dualrpc-bench"), flag}, "", kShortRun);
    EXPECT_EQ(bench.exit_code, 2) << flag << ": " << bench.stderr_text;
    EXPECT_THAT(bench.stderr_text, HasSubstr(named)) << flag;
  }
}

// ---- every server flag checked before anything listens --------------------

struct BadFlag {
  std::string flag;   // as given
  std::string named;  // what stderr must name
};

void PrintTo(const BadFlag& bad, std::ostream* out) { *out << bad.flag; }

// "raw_threads_minus_1" for "--raw_threads=-1": the case's name in ctest.
std::string CaseName(const ::testing::TestParamInfo<BadFlag>& info) {
  std::string name;
  char previous = 0;
  for (char c : absl::StripPrefix(info.param.flag, "--")) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name.push_back(c);
    } else if (c == '-' && previous == '=') {
      name += "minus";
    } else {
      name.push_back('_');
    }
    previous = c;
  }
  return absl::StrCat(name, "_", info.index);
}

class BadServerFlagTest : public ServerOperatorTest,
                          public ::testing::WithParamInterface<BadFlag> {};

TEST_P(BadServerFlagTest, ExitsTwoNamingTheFlagAndNothingListens) {
  const CommandResult server = RunServer({GetParam().flag});
  EXPECT_EQ(server.exit_code, 2) << server.stderr_text;
  EXPECT_THAT(server.stderr_text, HasSubstr(GetParam().named));
  EXPECT_THAT(server.stderr_text, Not(HasSubstr("listening on")));
  EXPECT_FALSE(ReadyFileWritten());
}

INSTANTIATE_TEST_SUITE_P(
    EveryCheckedFlag, BadServerFlagTest,
    ::testing::Values(
        BadFlag{"--max_message_bytes=-5", "--max_message_bytes"},
        BadFlag{"--max_message_bytes=0", "--max_message_bytes"},
        BadFlag{"--raw_threads=-1", "--raw_threads"},
        BadFlag{"--raw_threads=four", "'raw_threads'"},
        BadFlag{"--raw_max_connections=0", "--raw_max_connections"},
        BadFlag{"--raw_max_calls_in_flight=-3", "--raw_max_calls_in_flight"},
        BadFlag{"--raw_max_output_bytes=0", "--raw_max_output_bytes"},
        BadFlag{"--raw_max_buffered_bytes=-1", "--raw_max_buffered_bytes"},
        BadFlag{"--blocking_threads=0", "--blocking_threads"},
        BadFlag{"--blocking_queue=-1", "--blocking_queue"},
        BadFlag{"--blocking_queue_per_connection=0",
                "--blocking_queue_per_connection"},
        BadFlag{"--listen_max_detecting=0", "--listen_max_detecting"},
        BadFlag{"--listen_detect_timeout=0s", "--listen_detect_timeout"},
        BadFlag{"--raw_idle_timeout=-1s", "--raw_idle_timeout"},
        BadFlag{"--shutdown_grace=-2s", "--shutdown_grace"},
        BadFlag{"--heap_release_interval=-1s", "--heap_release_interval"},
        BadFlag{"--default_page_size=0", "--default_page_size"},
        BadFlag{"--max_page_size=10", "--max_page_size"},
        BadFlag{"--listing_cache_names=-1", "--listing_cache_names"},
        BadFlag{"--log_level=loud", "--log_level"},
        BadFlag{"--grpc_listen=no-port-here", "--grpc_listen"},
        BadFlag{"--raw_listen=127.0.0.1:99999", "--raw_listen"},
        BadFlag{"--listen=[::1", "--listen"},
        BadFlag{"--tls_min_version=1.1", "--tls_min_version"},
        BadFlag{"--no_such_flag=1", "'no_such_flag'"}),
    CaseName);

// ---- a busy port ------------------------------------------------------------

TEST_F(ServerOperatorTest, BusyGrpcPortFailsAndTheFirstServerKeepsServing) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> first =
      dualrpc_testing::StartServer(root_.path());
  ASSERT_THAT(first, IsOk());
  const std::string grpc = (*first)->Address("grpc").value_or("");
  ASSERT_FALSE(grpc.empty());

  const CommandResult second = RunServer({"--grpc_listen=" + grpc});
  EXPECT_EQ(second.exit_code, 1) << second.stderr_text;
  EXPECT_THAT(
      second.stderr_text,
      HasSubstr(absl::StrCat("error dualrpc-server: grpc: cannot listen: "
                             "bind ",
                             grpc, ": Address already in use")));
  EXPECT_FALSE(ReadyFileWritten());
  ExpectLogLines(second.stderr_text, "dualrpc-server");

  // Every call (a new connection each) reaches the first server's root.
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(LsThrough("grpc://" + grpc), "first-root\n") << "call " << i;
  }
  EXPECT_TRUE((*first)->Alive());
}

TEST_F(ServerOperatorTest, BusyRawPortFailsAndTheFirstServerKeepsServing) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> first =
      dualrpc_testing::StartServer(root_.path());
  ASSERT_THAT(first, IsOk());
  const std::string raw = (*first)->Address("raw").value_or("");
  ASSERT_FALSE(raw.empty());

  const CommandResult second = RunServer({"--raw_listen=" + raw});
  EXPECT_EQ(second.exit_code, 1) << second.stderr_text;
  EXPECT_THAT(
      second.stderr_text,
      HasSubstr(absl::StrCat("error dualrpc-server: raw: cannot listen: "
                             "bind ",
                             raw, ": Address already in use")));
  EXPECT_FALSE(ReadyFileWritten());

  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(LsThrough("raw://" + raw), "first-root\n") << "call " << i;
  }
  EXPECT_TRUE((*first)->Alive());
}

// ---- SIGHUP, the drain, the process log -------------------------------------

// SIGHUP twice on a server with neither TLS nor tokens: logged each time,
// still serving on `targets`; then SIGTERM drains it, exit 0, with the
// lifecycle logged in the process log's format.
void ExpectSighupSurvivedAndDrainLogged(
    ServerProcess& server, const std::vector<std::string>& targets) {
  for (int round = 1; round <= 2; ++round) {
    ASSERT_THAT(server.Signal(SIGHUP), IsOk());
    ASSERT_TRUE(dualrpc_testing::Eventually([&] {
      const std::string log = server.StderrText();
      int seen = 0;
      for (std::string::size_type at =
               log.find("received SIGHUP: nothing to reload");
           at != std::string::npos;
           at = log.find("received SIGHUP: nothing to reload", at + 1)) {
        ++seen;
      }
      return seen == round;
    })) << server.StderrText();
    EXPECT_TRUE(server.Alive());
    for (const std::string& target : targets) {
      EXPECT_EQ(LsThrough(target), "first-root\n") << target;
    }
  }
  ASSERT_THAT(server.Signal(SIGTERM), IsOk());
  EXPECT_THAT(server.WaitForExit(absl::Seconds(30)), IsOkAndHolds(0));
  const std::string log = server.StderrText();
  EXPECT_THAT(
      log,
      AllOf(HasSubstr(
                "info dualrpc-server: dualrpc-server " DUALRPC_TEST_VERSION),
            HasSubstr("info dualrpc-server: received SIGTERM, "
                      "draining for up to 5s"),
            HasSubstr("info dualrpc-server: drained in "),
            HasSubstr("info dualrpc-server: stopped")));
  ExpectLogLines(log, "dualrpc-server");
}

TEST_F(ServerOperatorTest, SighupWithNothingToReloadIsLoggedAndSurvived) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      dualrpc_testing::StartServer(root_.path());
  ASSERT_THAT(server, IsOk());
  ExpectSighupSurvivedAndDrainLogged(
      **server, {"grpc://" + (*server)->Address("grpc").value_or(""),
                 "raw://" + (*server)->Address("raw").value_or("")});
}

TEST_F(ServerOperatorTest, SighupOnTheSharedPortOnlyIsLoggedAndSurvived) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      dualrpc_testing::StartServer(
          root_.path(),
          {"--grpc_listen=", "--raw_listen=", "--listen=127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  const std::string listen = (*server)->Address("listen").value_or("");
  ASSERT_FALSE(listen.empty());
  ExpectSighupSurvivedAndDrainLogged(**server,
                                     {"grpc://" + listen, "raw://" + listen});
}

TEST_F(ServerOperatorTest, LogLevelWarningHidesTheInfoLines) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> first =
      dualrpc_testing::StartServer(root_.path(), {"--log_level=warning"});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT((*first)->Signal(SIGHUP), IsOk());
  // A second server at the same level: its failure is an error line, the
  // lines before it (info) are hidden.
  const CommandResult second =
      RunServer({"--log_level=warning",
                 "--grpc_listen=" + (*first)->Address("grpc").value_or("")});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.stderr_text,
              HasSubstr("error dualrpc-server: grpc: cannot listen"));
  EXPECT_THAT(second.stderr_text, Not(HasSubstr(" info ")));
  ExpectLogLines(second.stderr_text, "dualrpc-server");

  EXPECT_EQ(LsThrough("grpc://" + (*first)->Address("grpc").value_or("")),
            "first-root\n");
  ASSERT_THAT((*first)->Signal(SIGTERM), IsOk());
  EXPECT_THAT((*first)->WaitForExit(absl::Seconds(30)), IsOkAndHolds(0));
  EXPECT_THAT((*first)->StderrText(), IsEmpty());
}

}  // namespace
}  // namespace dualrpc::server
