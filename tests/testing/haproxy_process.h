#ifndef DUALRPC_TESTS_TESTING_HAPROXY_PROCESS_H_
#define DUALRPC_TESTS_TESTING_HAPROXY_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "testing/temp_dir.h"

namespace dualrpc_testing {

// Debian's HAProxy (package haproxy, from scripts/bootstrap).
inline constexpr char kHaproxyPath[] = "/usr/sbin/haproxy";

struct HaproxyOptions {
  // The configuration, run as is (`haproxy -db -f config_path`).
  std::string config_path;
  // Added to HAProxy's environment, which the configuration reads as
  // "${NAME}". DUALRPC_HAPROXY_STATS is set by Start (the admin socket).
  std::vector<std::pair<std::string, std::string>> environment;
  // How long Start waits for the admin socket to answer.
  absl::Duration ready_timeout = absl::Seconds(20);
};

// HAProxy as a child process for a test: in the foreground (-db), in its own
// process group, killed if the starting thread dies (PR_SET_PDEATHSIG), its
// stdout and stderr (its log, `log stderr`) in a file of its own directory,
// where its admin socket is too. Owned by the test; one thread uses it at a
// time. The destructor runs Stop().
class HaproxyProcess {
 public:
  // Starts HAProxy and returns once its admin socket answers, so that its
  // frontends are bound and its first checks are scheduled. UNAVAILABLE with
  // the log's tail if it exits first (a frontend port taken says "cannot
  // bind socket"), DEADLINE_EXCEEDED (killed) if it is not ready in time.
  static absl::StatusOr<std::unique_ptr<HaproxyProcess>> Start(
      HaproxyOptions options);
  ~HaproxyProcess();
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  // One admin command ("show stat") and the whole answer.
  absl::StatusOr<std::string> Admin(absl::string_view command) const;
  // `show stat` for one server of a backend: every column by its name
  // ("status" is "UP", "DOWN", ...; "scur" current sessions, "stot" total).
  // NOT_FOUND if the backend has no such server.
  absl::StatusOr<std::map<std::string, std::string>> ServerStats(
      absl::string_view backend, absl::string_view server) const;
  // ServerStats(...)["status"], or "?" when that cannot be read.
  std::string ServerStatus(absl::string_view backend,
                           absl::string_view server) const;

  // Not reaped yet and still there.
  bool Alive() const;
  // SIGTERM (HAProxy's hard stop), SIGKILL after 10 s; reaps it. Its exit
  // code (-1 after a signal). Idempotent: later calls return the first's.
  int Stop();
  // Everything HAProxy wrote so far.
  std::string LogText() const;

 private:
  HaproxyProcess() = default;

  TempDir dir_;
  std::string stats_socket_;
  std::string log_path_;
  pid_t pid_ = -1;  // -1 once reaped
  int exit_code_ = -1;
};

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_HAPROXY_PROCESS_H_
