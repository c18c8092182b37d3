#include "dualrpc/server/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::server {
namespace {

// How often Start and Stop look at the child. Short against every timeout.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);
// How much of the log an error quotes.
constexpr std::size_t kLogTailBytes = 2000;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& path) {
  const std::string text = ReadWholeFile(path);
  return text.size() > kLogTailBytes ? text.substr(text.size() - kLogTailBytes)
                                     : text;
}

// Reaps `pid` if it has exited: its exit code, or -1 after a signal.
std::optional<int> Reap(pid_t pid) {
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done != pid) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

absl::StatusOr<std::string> MakeWorkDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                   "/dualrpc-server.XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr)
    return base::PosixError("mkdtemp", errno);
  return templ;
}

void RemoveWorkDir(const std::string& dir, const std::string& ready_path,
                   const std::string& log_path) {
  std::remove(ready_path.c_str());
  std::remove((ready_path + ".tmp").c_str());
  std::remove(log_path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::vector<std::string> argv, ServerProcessOptions options) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  const bool owns_work_dir = options.work_dir.empty();
  if (owns_work_dir) {
    absl::StatusOr<std::string> dir = MakeWorkDir();
    if (!dir.ok()) return dir.status();
    options.work_dir = *std::move(dir);
  }
  const std::string ready_path =
      absl::StrCat(options.work_dir, "/", options.name, ".ready");
  const std::string log_path =
      absl::StrCat(options.work_dir, "/", options.name, ".log");
  argv.push_back(absl::StrCat("--ready_file=", ready_path));
  std::vector<char*> c_argv;
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int fork_errno = errno;
    if (owns_work_dir) RemoveWorkDir(options.work_dir, ready_path, log_path);
    return base::PosixError("fork", fork_errno);
  }
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
    // Must not outlive its starter, nor hold a test's output pipes open
    // (ctest waits for them to close).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    // execvp: a wrapper (valgrind, strace) may be named without its path.
    ::execvp(c_argv[0], c_argv.data());
    ::_exit(127);
  }

  // Owns the child from here on: every early return stops it.
  std::unique_ptr<ServerProcess> server(new ServerProcess(
      std::move(options), owns_work_dir, pid, ready_path, log_path));
  const absl::Time give_up = absl::Now() + server->options_.ready_timeout;
  for (;;) {
    if (::access(ready_path.c_str(), F_OK) == 0) {
      absl::StatusOr<ReadyAddresses> addresses = ReadReadyFile(ready_path);
      if (!addresses.ok()) return addresses.status();
      server->addresses_ = *std::move(addresses);
      return server;
    }
    if (std::optional<int> code = Reap(pid); code.has_value()) {
      server->pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat(argv[0], " exited (", *code,
                       ") before it was ready: ", Tail(log_path)));
    }
    if (absl::Now() > give_up) {
      ::kill(-pid, SIGKILL);
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " was not ready within ",
                       absl::FormatDuration(server->options_.ready_timeout),
                       ": ", Tail(log_path)));
    }
    absl::SleepFor(kPollInterval);
  }
}

ServerProcess::~ServerProcess() {
  Stop();
  if (owns_work_dir_) RemoveWorkDir(options_.work_dir, ready_path_, log_path_);
}

void ServerProcess::Stop() {
  if (pid_ <= 0) return;
  const bool graceful = options_.stop_grace > absl::ZeroDuration();
  ::kill(-pid_, graceful ? SIGTERM : SIGKILL);
  if (graceful && WaitForExit(options_.stop_grace).ok()) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

absl::StatusOr<std::string> ServerProcess::Address(
    absl::string_view transport) const {
  auto it = addresses_.find(transport);
  if (it == addresses_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no \"", transport, "\" in ", ready_path_));
  }
  return it->second;
}

absl::Status ServerProcess::Signal(int signal_number) const {
  if (pid_ <= 0)
    return absl::FailedPreconditionError("the server was already reaped");
  if (::kill(-pid_, signal_number) != 0) return base::PosixError("kill", errno);
  return absl::OkStatus();
}

absl::StatusOr<int> ServerProcess::WaitForExit(absl::Duration timeout) {
  if (pid_ <= 0)
    return absl::FailedPreconditionError("the server was already reaped");
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    if (std::optional<int> code = Reap(pid_); code.has_value()) {
      pid_ = -1;
      return *code;
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          name(), " still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPollInterval);
  }
}

bool ServerProcess::Alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }

std::string ServerProcess::StderrText() const {
  return ReadWholeFile(log_path_);
}

}  // namespace dualrpc::server
