#include "server_process.h"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::bench {
namespace {

// How long a server has to exit after SIGTERM before it gets SIGKILL.
constexpr absl::Duration kStopGrace = absl::Seconds(5);

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return base::PosixError(absl::StrCat("open ", path), errno);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::string name, std::vector<std::string> argv,
    const std::string& work_dir, absl::Duration timeout) {
  server::ServerProcessOptions options;
  options.name = std::move(name);
  options.work_dir = work_dir;
  options.ready_timeout = timeout;
  options.stop_grace = kStopGrace;
  absl::StatusOr<std::unique_ptr<server::ServerProcess>> process =
      server::ServerProcess::Start(std::move(argv), std::move(options));
  if (!process.ok()) return process.status();
  return std::unique_ptr<ServerProcess>(new ServerProcess(*std::move(process)));
}

absl::StatusOr<std::string> ServerProcess::Address(
    const std::string& key) const {
  return process_->Address(key);
}

bool ServerProcess::Alive() const { return process_->Alive(); }

absl::StatusOr<double> ServerProcess::CpuSeconds() const {
  absl::StatusOr<std::string> stat =
      ReadWholeFile(absl::StrCat("/proc/", pid(), "/stat"));
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
      ReadWholeFile(absl::StrCat("/proc/", pid(), "/status"));
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
  const std::string path = absl::StrCat("/proc/", pid(), "/clear_refs");
  std::ofstream out(path);
  out << "5\n";
  out.close();
  if (!out) return base::PosixError(absl::StrCat("write ", path), errno);
  return absl::OkStatus();
}

}  // namespace dualrpc::bench
