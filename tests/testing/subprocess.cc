#include "testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace dualrpc_testing {
namespace {

std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const std::string& arg : argv)
    pointers.push_back(const_cast<char*>(arg.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

constexpr int kStillRunning = -2;

// Polls waitpid until the child exits or `timeout` passes. Returns the exit
// code, -1 if it died of a signal, kStillRunning on timeout.
int WaitForPid(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0 && errno != EINTR) return -1;
    if (absl::Now() > deadline) return kStillRunning;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("DUALRPC_BIN_DIR");
  return absl::StrCat(dir != nullptr ? dir : "build/bin", "/", name);
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_text,
                         absl::Duration timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return {};
  }
  std::vector<char*> args = ArgvPointers(argv);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::signal(SIGPIPE, SIG_IGN);

  CommandResult result;
  std::size_t written = 0;
  int stdin_fd = in_pipe[1];
  if (stdin_text.empty()) {
    ::close(stdin_fd);
    stdin_fd = -1;
  }
  const absl::Time deadline = absl::Now() + timeout;
  int open_outputs = 2;
  while (open_outputs > 0 && absl::Now() < deadline) {
    pollfd fds[3] = {{out_pipe[0], POLLIN, 0},
                     {err_pipe[0], POLLIN, 0},
                     {stdin_fd, POLLOUT, 0}};
    if (::poll(fds, stdin_fd >= 0 ? 3 : 2, 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[65536];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.stdout_text : result.stderr_text).append(buffer, n);
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        (i == 0 ? out_pipe[0] : err_pipe[0]) = -1;
        --open_outputs;
      }
    }
    if (stdin_fd >= 0 && fds[2].revents != 0) {
      ssize_t n = ::write(stdin_fd, stdin_text.data() + written,
                          stdin_text.size() - written);
      if (n > 0) written += n;
      if (n < 0 || written == stdin_text.size()) {
        ::close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  for (int fd : {stdin_fd, out_pipe[0], err_pipe[0]}) {
    if (fd >= 0) ::close(fd);
  }
  if (open_outputs > 0) ::kill(pid, SIGKILL);
  result.exit_code = std::max(-1, WaitForPid(pid, absl::Seconds(10)));
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> StartServer(
    const std::string& root, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {
      BinaryPath("dualrpc-server"), "--root=" + root,
      "--grpc_listen=127.0.0.1:0", "--raw_listen=127.0.0.1:0"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  dualrpc::server::ServerProcessOptions options;
  options.name = "dualrpc-server";
  options.ready_timeout = absl::Seconds(30);
  options.stop_grace = absl::ZeroDuration();
  return ServerProcess::Start(std::move(argv), std::move(options));
}

}  // namespace dualrpc_testing
