#include "pinning.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::bench {

absl::string_view PinningName(Pinning pinning) {
  switch (pinning) {
    case Pinning::kSameCore:
      return "same-core";
    case Pinning::kCrossCore:
      return "cross-core";
    case Pinning::kUnpinned:
      return "unpinned";
  }
  return "?";
}

absl::StatusOr<Pinning> ParsePinning(absl::string_view name) {
  for (Pinning pinning :
       {Pinning::kSameCore, Pinning::kCrossCore, Pinning::kUnpinned}) {
    if (name == PinningName(pinning)) return pinning;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "pinning must be same-core, cross-core or unpinned, not ", name));
}

absl::StatusOr<CpuPlan> PlanCpus(Pinning pinning, const cpu_set_t& available) {
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &available)) cpus.push_back(cpu);
  }
  if (cpus.empty()) return absl::FailedPreconditionError("no CPU available");
  CpuPlan plan;
  CPU_ZERO(&plan.client);
  CPU_ZERO(&plan.server);
  switch (pinning) {
    case Pinning::kSameCore:
      CPU_SET(cpus[0], &plan.client);
      CPU_SET(cpus[0], &plan.server);
      break;
    case Pinning::kCrossCore:
      if (cpus.size() < 2) {
        return absl::FailedPreconditionError(
            "cross-core pinning needs two CPUs");
      }
      CPU_SET(cpus[0], &plan.client);
      CPU_SET(cpus[1], &plan.server);
      break;
    case Pinning::kUnpinned:
      plan.client = available;
      plan.server = available;
      break;
  }
  return plan;
}

absl::Status PinProcess(pid_t pid, const cpu_set_t& cpus) {
  const std::string task_dir = pid == 0 ? std::string("/proc/self/task")
                                        : absl::StrCat("/proc/", pid, "/task");
  DIR* dir = ::opendir(task_dir.c_str());
  if (dir == nullptr)
    return base::PosixError(absl::StrCat("opendir ", task_dir), errno);
  absl::Status result;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const pid_t tid = static_cast<pid_t>(std::atoi(entry->d_name));
    // A thread may exit between readdir and here (ESRCH): nothing to pin.
    if (::sched_setaffinity(tid, sizeof cpus, &cpus) != 0 && errno != ESRCH) {
      result = base::PosixError(absl::StrCat("sched_setaffinity ", tid), errno);
    }
  }
  ::closedir(dir);
  return result;
}

std::string CpuSetString(const cpu_set_t& cpus) {
  std::vector<int> list;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &cpus)) list.push_back(cpu);
  }
  return absl::StrJoin(list, ",");
}

}  // namespace dualrpc::bench
