#include "server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "dualrpc/base/posix_error.h"
#include "bench_net.h"

namespace dualrpc::bench {
namespace {

constexpr absl::Duration kStopGrace = absl::Seconds(5);
constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return base::PosixError(absl::StrCat("open ", path), errno);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return "";
  constexpr std::size_t kTailBytes = 2000;
  return text->size() > kTailBytes ? text->substr(text->size() - kTailBytes)
                                   : *text;
}

// Reaps `pid` if it has exited; true then.
bool Reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::string name, std::vector<std::string> argv,
    const std::string& work_dir, absl::Duration timeout) {
  const std::string ready_path = absl::StrCat(work_dir, "/", name, ".ready");
  const std::string log_path = absl::StrCat(work_dir, "/", name, ".log");
  argv.push_back(absl::StrCat("--ready_file=", ready_path));
  // execvp: a wrapper (valgrind, strace) may be named without its path.
  std::vector<char*> c_argv;
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return base::PosixError("fork", errno);
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int log_fd = ::open(log_path.c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
    }
    // Dies with the bench, whatever kills it (the forking thread is the
    // bench's main thread, which lives as long as the bench).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Its own process group, so that stopping it also stops whatever a
    // --server_wrapper (strace, perf) started.
    ::setpgid(0, 0);
    ::execvp(c_argv[0], c_argv.data());
    ::_exit(127);
  }

  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    if (absl::StatusOr<std::string> ready = ReadWholeFile(ready_path);
        ready.ok()) {
      return std::unique_ptr<ServerProcess>(
          new ServerProcess(std::move(name), pid, *std::move(ready), log_path));
    }
    if (Reaped(pid)) {
      return absl::UnavailableError(absl::StrCat(
          argv[0], " exited before it was ready: ", Tail(log_path)));
    }
    if (absl::Now() > give_up) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " was not ready within ",
                       absl::FormatDuration(timeout), ": ", Tail(log_path)));
    }
    absl::SleepFor(kPollInterval);
  }
}

ServerProcess::~ServerProcess() {
  ::kill(-pid_, SIGTERM);
  const absl::Time give_up = absl::Now() + kStopGrace;
  while (!Reaped(pid_)) {
    if (absl::Now() > give_up) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      return;
    }
    absl::SleepFor(kPollInterval);
  }
}

absl::StatusOr<std::string> ServerProcess::Address(
    const std::string& key) const {
  return ReadyFileValue(ready_json_, key);
}

bool ServerProcess::Alive() const { return ::kill(pid_, 0) == 0; }

absl::StatusOr<double> ServerProcess::CpuSeconds() const {
  absl::StatusOr<std::string> stat =
      ReadWholeFile(absl::StrCat("/proc/", pid_, "/stat"));
  if (!stat.ok()) return stat.status();
  // The command name (field 2) may hold spaces: fields are counted after ")".
  const std::size_t paren = stat->rfind(')');
  if (paren == std::string::npos)
    return absl::InternalError("malformed /proc/PID/stat");
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(paren + 2), ' ', absl::SkipEmpty());
  // utime and stime are fields 14 and 15 of stat; field 3 is the first here.
  constexpr std::size_t kUtime = 14 - 3, kStime = 15 - 3;
  uint64_t utime = 0, stime = 0;
  if (fields.size() <= kStime || !absl::SimpleAtoi(fields[kUtime], &utime) ||
      !absl::SimpleAtoi(fields[kStime], &stime)) {
    return absl::InternalError("malformed /proc/PID/stat");
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

absl::StatusOr<int64_t> ServerProcess::PeakRssBytes() const {
  absl::StatusOr<std::string> status =
      ReadWholeFile(absl::StrCat("/proc/", pid_, "/status"));
  if (!status.ok()) return status.status();
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmHWM:")) continue;
    int64_t kib = 0;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumeSuffix(&line, " kB") ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) {
      break;
    }
    return kib * 1024;
  }
  return absl::InternalError("no VmHWM in /proc/PID/status");
}

absl::Status ServerProcess::ResetPeakRss() const {
  const std::string path = absl::StrCat("/proc/", pid_, "/clear_refs");
  std::ofstream out(path);
  out << "5\n";
  out.close();
  if (!out) return base::PosixError(absl::StrCat("write ", path), errno);
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
