#include "testing/haproxy_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "dualrpc/base/posix_error.h"

extern char** environ;

namespace dualrpc_testing {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
constexpr std::size_t kLogTailBytes = 3000;

std::optional<int> Reap(pid_t pid) {
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done != pid) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HaproxyProcess>> HaproxyProcess::Start(
    HaproxyOptions options) {
  std::unique_ptr<HaproxyProcess> haproxy(new HaproxyProcess());
  if (haproxy->dir_.path().empty()) {
    return absl::InternalError("no directory for HAProxy's files");
  }
  haproxy->stats_socket_ = haproxy->dir_.HostPath("admin.sock");
  haproxy->log_path_ = haproxy->dir_.HostPath("haproxy.log");
  options.environment.emplace_back("DUALRPC_HAPROXY_STATS",
                                   haproxy->stats_socket_);

  // Everything exec needs is built before fork: the child may only make
  // async-signal-safe calls.
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    environment.emplace_back(*entry);
  }
  for (const auto& [name, value] : options.environment) {
    environment.push_back(absl::StrCat(name, "=", value));
  }
  std::vector<char*> envp;
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv = {kHaproxyPath, "-db", "-f",
                                   options.config_path};
  std::vector<char*> c_argv;
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);
  const std::string& log_path = haproxy->log_path_;

  const pid_t pid = ::fork();
  if (pid < 0) return dualrpc::base::PosixError("fork", errno);
  if (pid == 0) {
    const int log_fd = ::open(log_path.c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    ::execve(c_argv[0], c_argv.data(), envp.data());
    ::_exit(127);
  }
  haproxy->pid_ = pid;

  const absl::Time give_up = absl::Now() + options.ready_timeout;
  for (;;) {
    if (haproxy->Admin("show info").ok()) return haproxy;
    if (std::optional<int> code = Reap(pid); code.has_value()) {
      haproxy->pid_ = -1;
      haproxy->exit_code_ = *code;
      std::string log = haproxy->LogText();
      if (log.size() > kLogTailBytes) log = log.substr(log.size() - kLogTailBytes);
      return absl::UnavailableError(absl::StrCat(
          "haproxy exited (", *code, ") before it was ready: ", log));
    }
    if (absl::Now() > give_up) {
      haproxy->Stop();
      return absl::DeadlineExceededError(absl::StrCat(
          "haproxy's admin socket did not answer within ",
          absl::FormatDuration(options.ready_timeout), ": ",
          haproxy->LogText()));
    }
    absl::SleepFor(kPollInterval);
  }
}

HaproxyProcess::~HaproxyProcess() { Stop(); }

absl::StatusOr<std::string> HaproxyProcess::Admin(
    absl::string_view command) const {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (stats_socket_.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError("admin socket path too long");
  }
  std::memcpy(address.sun_path, stats_socket_.c_str(), stats_socket_.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return dualrpc::base::PosixError("socket", errno);
  // One command per connection: HAProxy answers and closes.
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address),
                sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return dualrpc::base::PosixError("connect to HAProxy's admin socket", error);
  }
  const std::string line = absl::StrCat(command, "\n");
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    const int error = errno;
    ::close(fd);
    return dualrpc::base::PosixError("send to HAProxy's admin socket", error);
  }
  std::string answer;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      answer.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int error = errno;
    ::close(fd);
    if (n < 0) {
      return dualrpc::base::PosixError("read HAProxy's admin socket", error);
    }
    return answer;
  }
}

absl::StatusOr<std::map<std::string, std::string>> HaproxyProcess::ServerStats(
    absl::string_view backend, absl::string_view server) const {
  absl::StatusOr<std::string> stat = Admin("show stat");
  if (!stat.ok()) return stat.status();
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (absl::ConsumePrefix(&line, "# ")) {
      names = absl::StrSplit(line, ',');
      continue;
    }
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    if (fields.size() < 2 || fields[0] != backend || fields[1] != server) {
      continue;
    }
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < fields.size() && i < names.size(); ++i) {
      row[names[i]] = fields[i];
    }
    return row;
  }
  return absl::NotFoundError(
      absl::StrCat("HAProxy has no server ", backend, "/", server));
}

std::string HaproxyProcess::ServerStatus(absl::string_view backend,
                                         absl::string_view server) const {
  absl::StatusOr<std::map<std::string, std::string>> row =
      ServerStats(backend, server);
  if (!row.ok()) return "?";
  return (*row)["status"];
}

bool HaproxyProcess::Alive() const {
  if (pid_ <= 0) return false;
  // Exited but not reaped counts as gone; WNOWAIT leaves it to Stop.
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid_), &info,
                  WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

int HaproxyProcess::Stop() {
  if (pid_ <= 0) return exit_code_;
  ::kill(-pid_, SIGTERM);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (;;) {
    if (std::optional<int> code = Reap(pid_); code.has_value()) {
      exit_code_ = *code;
      break;
    }
    if (absl::Now() > give_up) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      exit_code_ = -1;
      break;
    }
    absl::SleepFor(kPollInterval);
  }
  pid_ = -1;
  return exit_code_;
}

std::string HaproxyProcess::LogText() const { return ReadWholeFile(log_path_); }

}  // namespace dualrpc_testing
