// dualrpc-bench: measures dualrpc's transports against gRPC, Cap'n Proto RPC
// and a bare-socket floor, each served by its own process that the bench
// starts, pins and measures (docs/BENCHMARKS.md).
//
// main() wires the parts: the scratch directory, the server processes, one
// Contender per transport, and the harness loop, which runs every point of
// the scenario with the contenders interleaved (A B C D A B C D ...) and
// prints a Markdown report (stdout), progress (stderr) and, with --json,
// one record per measured point.

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "capnp_contender.h"
#include "contender.h"
#include "dualrpc/base/heap.h"
#include "dualrpc/base/program_info.h"
#include "dualrpc/client/channel_factory.h"
#include "dualrpc_contender.h"
#include "floor_contender.h"
#include "load_command.h"
#include "local_list_contender.h"
#include "pinning.h"
#include "report.h"
#include "scenario.h"
#include "server_process.h"
#include "work_dir.h"

ABSL_FLAG(std::string, scenario, "quick", "smoke, quick or full.");
ABSL_FLAG(std::string, json, "", "Also write the results here as JSON.");
namespace dualrpc::bench {
namespace {
// Every contender the bench knows (--transports' default).
std::vector<std::string> AllTransports() {
  return {"floor",      "raw",         "grpc",           "capnp",
          "local",      "floor-tls",   "raw-tls",        "grpc-tls",
          "raw-shared", "grpc-shared", "raw-shared-tls", "grpc-shared-tls",
          "raw-auth",   "raw-accesslog", "raw-metrics",  "raw-observed"};
}
}  // namespace
}  // namespace dualrpc::bench

ABSL_FLAG(std::vector<std::string>, transports, dualrpc::bench::AllTransports(),
          "Contenders to run (floor, raw, grpc, capnp, local; issue 11's "
          "variants floor-tls, raw-tls, grpc-tls, raw-shared, grpc-shared, "
          "raw-shared-tls, grpc-shared-tls, raw-auth, which run only at the "
          "points of the groups tls, shared-port and auth; issue 13's "
          "raw-accesslog, raw-metrics, raw-observed, only at the "
          "observability group's).");
ABSL_FLAG(std::vector<std::string>, pinning, {},
          "Only points in these pinning modes (same-core, cross-core, "
          "unpinned); default all.");
ABSL_FLAG(std::vector<std::string>, groups, {},
          "Only these groups (echo-closed, echo-pinning, echo-pipelined, "
          "echo-open, list, stream-pingpong, stream-throughput, walk, tls, "
          "shared-port, auth, observability).");
ABSL_FLAG(std::vector<std::string>, payloads, {},
          "Only Echo points with these payload sizes in bytes (list points are "
          "kept).");
ABSL_FLAG(int32_t, repetitions, 0, "Override the scenario's repetitions.");
ABSL_FLAG(double, duration_scale, 1.0,
          "Multiply the scenario's warm-up and measurement times.");
ABSL_FLAG(std::string, bin_dir, "",
          "Where dualrpc-server and the bench servers are; default: beside "
          "this program.");
ABSL_FLAG(std::string, make_certs, "",
          "The certificate generator the TLS contenders run into the scratch "
          "directory (tests/testing/make_test_certs.sh, built beside this "
          "program as dualrpc-bench-make-certs: the default). Needs the "
          "openssl command.");
ABSL_FLAG(bool, keep_work_dir, false,
          "Keep the scratch directory (server logs) at exit.");
ABSL_FLAG(std::string, server_wrapper, "",
          "Profiling: run every server under this command, e.g. \"valgrind "
          "--tool=callgrind\" "
          "(pinning and /proc figures then apply to the wrapper's process).");

namespace dualrpc::bench {
namespace {

// Longest a contender may take to connect, or to finish its calls after the
// stop.
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kDrainTimeout = absl::Seconds(60);
constexpr absl::Duration kProgressInterval = absl::Milliseconds(250);
constexpr absl::Duration kServerStartTimeout = absl::Seconds(60);

std::string ProgramDir() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string dir(path, n);
  return dir.substr(0, dir.rfind('/'));
}

double ClientCpuSeconds() {
  rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

// The live progress line on stderr.
class Progress {
 public:
  explicit Progress(int total)
      : total_(total), start_(absl::Now()), tty_(::isatty(2)) {}

  void Begin(const std::string& label) {
    ++current_;
    label_ = label;
    last_line_ = absl::StrFormat("[%d/%d] %s", current_, total_, label_);
  }
  void Update(double measured_seconds, int64_t calls) {
    const std::string line = absl::StrFormat(
        "[%d/%d] %s | elapsed %.0fs | %.0f calls/s", current_, total_, label_,
        absl::ToDoubleSeconds(absl::Now() - start_),
        measured_seconds > 0 ? calls / measured_seconds : 0.0);
    if (tty_) std::fprintf(stderr, "\r\033[K%s", line.c_str());
    last_line_ = line;
  }
  void End() {
    std::fprintf(stderr, tty_ ? "\r\033[K%s\n" : "%s\n", last_line_.c_str());
  }

 private:
  const int total_;
  const absl::Time start_;
  const bool tty_;
  int current_ = 0;
  std::string label_;
  std::string last_line_;
};

std::string Label(const Point& point, absl::string_view transport) {
  const bool echo = IsMessageWorkload(point.workload.kind);
  return absl::StrFormat(
      "%s %s %s %s conn=%d conc=%d%s %s", point.group, transport,
      echo ? absl::StrCat(point.workload.payload_bytes, "B")
           : absl::StrCat(point.workload.entries, " entries"),
      ModeName(point.shape.mode), point.shape.connections,
      point.shape.concurrency,
      point.shape.mode == LoadShape::Mode::kOpen
          ? absl::StrFormat(" rate=%.0f", point.shape.rate)
          : "",
      PinningName(point.pinning));
}

// Sleeps `duration`, updating the progress line.
void Wait(absl::Duration duration, const RunControl& control,
          absl::Time measure_start, Progress* progress) {
  const absl::Time end = absl::Now() + duration;
  for (absl::Time now = absl::Now(); now < end; now = absl::Now()) {
    absl::SleepFor(std::min(kProgressInterval, end - now));
    if (measure_start != absl::InfiniteFuture()) {
      progress->Update(absl::ToDoubleSeconds(absl::Now() - measure_start),
                       control.measured_calls());
    }
  }
}

// One run of one contender at one point: pin, start, warm up, measure for
// `duration` (longer, up to `max_duration`, until `min_calls` completed),
// stop.
absl::StatusOr<Repetition> Measure(Contender& contender, const Point& point,
                                   const CpuPlan& cpus, absl::Duration warmup,
                                   absl::Duration duration, int min_calls,
                                   absl::Duration max_duration,
                                   Progress* progress) {
  const ServerProcess* server = contender.server();
  auto pin = [&]() -> absl::Status {
    if (server != nullptr) {
      if (absl::Status pinned = server->Pin(cpus.server); !pinned.ok())
        return pinned;
    }
    return PinProcess(0, cpus.client);
  };
  if (absl::Status pinned = pin(); !pinned.ok()) return pinned;
  if (server != nullptr) {
    if (!server->Alive())
      return absl::UnavailableError(absl::StrCat(server->name(), " died"));
    if (absl::Status reset = server->ResetPeakRss(); !reset.ok()) return reset;
  }

  RunControl control;
  absl::Status run_status;
  absl::Notification finished;
  std::thread load([&]() {
    run_status = contender.Run(point.workload, point.shape, &control);
    finished.Notify();
  });
  const absl::Time give_up = absl::Now() + kStartTimeout;
  while (!control.WaitStarted(absl::Milliseconds(10)) &&
         !finished.HasBeenNotified()) {
    if (absl::Now() > give_up) {
      std::fprintf(stderr, "\n%s did not start within %s\n",
                   std::string(contender.transport()).c_str(),
                   absl::FormatDuration(kStartTimeout).c_str());
      std::_Exit(3);
    }
  }
  if (finished.HasBeenNotified()) {
    load.join();
    return run_status.ok()
               ? absl::InternalError("the load ended before it started")
               : run_status;
  }

  Wait(warmup, control, absl::InfiniteFuture(), progress);
  // Threads created during warm-up (gRPC makes them lazily) inherit the
  // affinity of their creator; pinning again is a cheap safeguard, and the
  // first pinning succeeded, so a failure here (a thread that just exited)
  // is ignored.
  pin().IgnoreError();
  Repetition rep;
  const double client_cpu_start = ClientCpuSeconds();
  absl::StatusOr<double> server_cpu_start =
      server != nullptr ? server->CpuSeconds() : absl::StatusOr<double>(0.0);
  const absl::Time measure_start = absl::Now();
  control.SetPhase(Phase::kMeasure);
  Wait(duration, control, measure_start, progress);
  while (control.measured_calls() < min_calls &&
         absl::Now() - measure_start < max_duration) {
    Wait(absl::Milliseconds(10), control, measure_start, progress);
  }
  control.SetPhase(Phase::kStop);
  const absl::Time measure_end = absl::Now();
  rep.client_cpu_seconds = ClientCpuSeconds() - client_cpu_start;
  if (server != nullptr && server_cpu_start.ok()) {
    absl::StatusOr<double> server_cpu_end = server->CpuSeconds();
    if (server_cpu_end.ok())
      rep.server_cpu_seconds = *server_cpu_end - *server_cpu_start;
  }
  rep.measured_seconds = absl::ToDoubleSeconds(measure_end - measure_start);
  progress->Update(rep.measured_seconds, control.measured_calls());

  if (!finished.WaitForNotificationWithTimeout(kDrainTimeout)) {
    std::fprintf(stderr,
                 "\n%s did not finish its calls within %s of the stop\n",
                 std::string(contender.transport()).c_str(),
                 absl::FormatDuration(kDrainTimeout).c_str());
    std::_Exit(3);
  }
  load.join();
  if (!run_status.ok()) return run_status;
  if (server != nullptr) {
    absl::StatusOr<int64_t> rss = server->PeakRssBytes();
    if (rss.ok()) rep.server_rss_bytes = *rss;
  }
  rep.histogram = control.MergedHistogram();
  rep.calls = rep.histogram.count();
  rep.errors = control.errors();
  rep.first_error = control.first_error();
  return rep;
}

// A contender's server, and how its client reaches it.
struct ServerSpec {
  std::string transport;
  std::vector<std::string> argv;
  // The ready file's key of the address the client calls.
  std::string address_key;
  // DualrpcContender's target scheme ("raw", "grpcs", ...); empty for the
  // bench's own clients (floor, capnp).
  std::string scheme;
  // What this build must have for the contender to run (issue 11's pieces
  // land on separate branches): a dualrpc-server flag, and for TLS a client
  // scheme CreateChannel implements; `branch` names where they come from.
  std::string server_flag;
  std::string branch;
  bool tls = false;
  bool token = false;
};

// dualrpc-server's --helpfull text: which flags this build has.
std::string ServerHelp(const std::string& server) {
  std::string help;
  FILE* pipe = ::popen(absl::StrCat("'", server, "' --helpfull 2>&1").c_str(),
                       "r");
  if (pipe == nullptr) return help;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;)
    help.append(chunk, n);
  ::pclose(pipe);
  return help;
}

// Why `spec` cannot run in this build; empty if it can. Neither check
// connects: CreateChannel is lazy.
std::string MissingPiece(const ServerSpec& spec, const std::string& help) {
  if (!spec.server_flag.empty() &&
      !absl::StrContains(help, absl::StrCat("--", spec.server_flag, " ("))) {
    return absl::StrCat("dualrpc-server has no --", spec.server_flag,
                        " in this build (", spec.branch, " not merged)");
  }
  if (spec.tls && !spec.scheme.empty()) {
    client::ChannelFactoryOptions options;
    options.tls.insecure_skip_verify = true;
    absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
        client::CreateChannel(absl::StrCat(spec.scheme, "://127.0.0.1:1"),
                              options);
    if (!channel.ok() &&
        channel.status().code() == absl::StatusCode::kUnimplemented) {
      return absl::StrCat(spec.scheme, ":// targets are not implemented in "
                          "this build (", spec.branch, " not merged)");
    }
  }
  return "";
}

// The bench's bearer token: it guards a scratch server on loopback for the
// length of a run, so it is a constant.
constexpr char kBenchToken[] = "dualrpc-bench-0123456789abcdef0123456789abcdef";

bool Runs(const Contender& contender, const Point& point) {
  return contender.Supports(point.workload) &&
         RunsAt(point, contender.transport());
}

bool Selected(const std::vector<std::string>& filter, absl::string_view name) {
  return filter.empty() ||
         std::find(filter.begin(), filter.end(), name) != filter.end();
}

// Every flag's value before anything starts: INVALID_ARGUMENT naming the
// first flag that is wrong (main exits 2). `positional`: the arguments that
// are not flags, of which there must be none. --scenario and --pinning are
// checked where Run reads them.
absl::Status ValidateFlags(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument \"", positional.front(),
        "\": dualrpc-bench takes flags only (--help lists them; the load "
        "command is \"dualrpc-bench load\")"));
  }
  if (absl::GetFlag(FLAGS_repetitions) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--repetitions must be 0 (the scenario's) or more, not ",
                     absl::GetFlag(FLAGS_repetitions)));
  }
  const double scale = absl::GetFlag(FLAGS_duration_scale);
  if (!std::isfinite(scale) || scale <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--duration_scale must be a number above 0, not ", scale));
  }
  const std::vector<std::string> known = AllTransports();
  for (const std::string& transport : absl::GetFlag(FLAGS_transports)) {
    if (std::find(known.begin(), known.end(), transport) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--transports: unknown contender \"", transport,
                       "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  for (const std::string& payload : absl::GetFlag(FLAGS_payloads)) {
    int64_t bytes = 0;
    if (!absl::SimpleAtoi(payload, &bytes) || bytes < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--payloads: \"", payload, "\" is not a size in bytes"));
    }
  }
  // Every group is in the full scenario.
  absl::StatusOr<Scenario> full = MakeScenario("full");
  if (!full.ok()) return full.status();
  for (const std::string& group : absl::GetFlag(FLAGS_groups)) {
    if (std::none_of(
            full->points.begin(), full->points.end(),
            [&](const Point& point) { return point.group == group; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("--groups: unknown group \"", group, "\""));
    }
  }
  return absl::OkStatus();
}

int Run(const std::vector<std::string>& positional) {
  if (absl::Status valid = ValidateFlags(positional); !valid.ok()) {
    std::fprintf(stderr, "dualrpc-bench: %s\n",
                 std::string(valid.message()).c_str());
    return base::kExitUsage;
  }
  absl::StatusOr<Scenario> made = MakeScenario(absl::GetFlag(FLAGS_scenario));
  if (!made.ok()) {
    std::fprintf(stderr, "dualrpc-bench: %s\n",
                 made.status().ToString().c_str());
    return 2;
  }
  Scenario scenario = *std::move(made);
  if (absl::GetFlag(FLAGS_repetitions) > 0)
    scenario.repetitions = absl::GetFlag(FLAGS_repetitions);
  const double scale = absl::GetFlag(FLAGS_duration_scale);
  for (absl::Duration* d : {&scenario.warmup, &scenario.duration,
                            &scenario.list_warmup, &scenario.list_duration}) {
    *d = *d * scale;
  }
  const std::vector<std::string> pinning_filter = absl::GetFlag(FLAGS_pinning);
  const std::vector<std::string> group_filter = absl::GetFlag(FLAGS_groups);
  const std::vector<std::string> payload_filter = absl::GetFlag(FLAGS_payloads);
  for (const std::string& name : pinning_filter) {
    if (absl::Status valid = ParsePinning(name).status(); !valid.ok()) {
      std::fprintf(stderr, "dualrpc-bench: %s\n", valid.ToString().c_str());
      return 2;
    }
  }
  std::vector<Point> points;
  for (const Point& point : scenario.points) {
    const bool payload_selected =
        !IsMessageWorkload(point.workload.kind) ||
        Selected(payload_filter, absl::StrCat(point.workload.payload_bytes));
    if (Selected(pinning_filter, PinningName(point.pinning)) &&
        Selected(group_filter, point.group) && payload_selected) {
      points.push_back(point);
    }
  }
  scenario.points = std::move(points);

  cpu_set_t available;
  CPU_ZERO(&available);
  ::sched_getaffinity(0, sizeof available, &available);

  absl::StatusOr<WorkDir> work_dir =
      WorkDir::Create(absl::GetFlag(FLAGS_keep_work_dir));
  if (!work_dir.ok()) {
    std::fprintf(stderr, "dualrpc-bench: %s\n",
                 work_dir.status().ToString().c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_keep_work_dir)) {
    std::fprintf(stderr, "dualrpc-bench: scratch directory %s\n",
                 work_dir->path().c_str());
  }
  const std::vector<std::string> transports = absl::GetFlag(FLAGS_transports);
  auto wanted = [&](absl::string_view transport) {
    return Selected(transports, transport);
  };
  // Only the trees and directories that a selected point reads: the
  // 100,000-entry ones take seconds to create.
  auto selected_entries = [&](Workload::Kind kind) {
    std::vector<int> entries;
    for (const Point& point : scenario.points) {
      if (point.workload.kind == kind &&
          std::find(entries.begin(), entries.end(), point.workload.entries) ==
              entries.end()) {
        entries.push_back(point.workload.entries);
      }
    }
    return entries;
  };
  scenario.walk_entries = selected_entries(Workload::Kind::kWalk);
  scenario.list_entries = selected_entries(Workload::Kind::kList);
  if (wanted("raw") || wanted("grpc") || wanted("local")) {
    for (int entries : scenario.walk_entries) {
      absl::Status made_tree =
          work_dir->MakeTree(WalkTreePath(entries), entries);
      if (!made_tree.ok()) {
        std::fprintf(stderr, "dualrpc-bench: %s\n",
                     made_tree.ToString().c_str());
        return 1;
      }
    }
    for (int entries : scenario.list_entries) {
      absl::Status made_dir =
          work_dir->MakeListDirectory(ListDirectoryPath(entries), entries);
      if (!made_dir.ok()) {
        std::fprintf(stderr, "dualrpc-bench: %s\n",
                     made_dir.ToString().c_str());
        return 1;
      }
    }
  }

  std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  if (bin_dir.empty()) bin_dir = ProgramDir();
  const std::string root = work_dir->root();
  const std::string server_binary = bin_dir + "/dualrpc-server";
  const std::string certs = work_dir->path() + "/certs";
  const std::vector<std::string> tls_flags = {
      "--tls_cert=" + certs + "/server.pem",
      "--tls_key=" + certs + "/server.key"};
  const std::string token_file = work_dir->path() + "/auth_tokens";
  // raw-accesslog's and raw-observed's lines (a file, as an operator would
  // have it; removed with the scratch directory).
  const std::vector<std::string> access_log_flags = {
      "--access_log=" + work_dir->path() + "/access.log"};
  const std::vector<std::string> metrics_flags = {
      "--metrics_listen=127.0.0.1:0"};
  auto dualrpc_server = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv = {server_binary, "--root=" + root};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return argv;
  };
  auto with = [](std::vector<std::string> flags,
                 const std::vector<std::string>& more) {
    flags.insert(flags.end(), more.begin(), more.end());
    return flags;
  };
  const std::vector<std::string> raw_flags = {"--grpc_listen=127.0.0.1:0",
                                              "--raw_listen=127.0.0.1:0"};
  const std::vector<std::string> grpc_flags = {"--grpc_listen=127.0.0.1:0",
                                               "--raw_listen="};
  const std::vector<std::string> shared_flags = {"--listen=127.0.0.1:0"};
  // Every contender gets its own server process, so that CPU and RSS belong
  // to one transport (the raw ones also listen on gRPC, idle). A variant's
  // server is its base's with the variant's flags added.
  const std::vector<ServerSpec> specs = {
      {"floor",
       {bin_dir + "/dualrpc-bench-floor-server", "--listen=127.0.0.1:0"},
       "floor", "", "", "", false, false},
      {"raw", dualrpc_server(raw_flags), "raw", "raw", "", "", false, false},
      {"grpc", dualrpc_server(grpc_flags), "grpc", "grpc", "", "", false,
       false},
      {"capnp",
       {bin_dir + "/dualrpc-bench-capnp-server", "--listen=127.0.0.1:0"},
       "capnp", "", "", "", false, false},
      {"floor-tls",
       with({bin_dir + "/dualrpc-bench-floor-server", "--listen=127.0.0.1:0"},
            tls_flags),
       "floor", "", "", "", /*tls=*/true, false},
      {"raw-tls", dualrpc_server(with(raw_flags, tls_flags)), "raw", "raws",
       "tls_cert", "wip-rawtls", /*tls=*/true, false},
      {"grpc-tls", dualrpc_server(with(grpc_flags, tls_flags)), "grpc",
       "grpcs", "tls_cert", "wip-grpctls", /*tls=*/true, false},
      {"raw-shared", dualrpc_server(with(raw_flags, shared_flags)), "listen",
       "raw", "listen", "wip-oneport", false, false},
      {"grpc-shared", dualrpc_server(with(grpc_flags, shared_flags)), "listen",
       "grpc", "listen", "wip-oneport", false, false},
      {"raw-shared-tls",
       dualrpc_server(with(with(raw_flags, shared_flags), tls_flags)),
       "listen", "raws", "listen", "wip-oneport", /*tls=*/true, false},
      {"grpc-shared-tls",
       dualrpc_server(with(with(grpc_flags, shared_flags), tls_flags)),
       "listen", "grpcs", "listen", "wip-grpctls",
       /*tls=*/true, false},
      {"raw-auth",
       dualrpc_server(with(raw_flags, {"--auth_tokens=" + token_file})),
       "raw", "raw", "auth_tokens", "wip-auth", /*tls=*/false,
       /*token=*/true},
      {"raw-accesslog", dualrpc_server(with(raw_flags, access_log_flags)),
       "raw", "raw", "access_log", "wip-accesslog", false, false},
      {"raw-metrics", dualrpc_server(with(raw_flags, metrics_flags)), "raw",
       "raw", "metrics_listen", "wip-metrics", false, false},
      // Has --access_log whenever it has --metrics_listen (issue 13).
      {"raw-observed",
       dualrpc_server(with(with(raw_flags, access_log_flags), metrics_flags)),
       "raw", "raw", "metrics_listen", "wip-metrics", false, false},
  };
  // Only what some selected point runs is started (the variants run at
  // their groups' points only).
  auto used = [&](absl::string_view transport) {
    if (!wanted(transport)) return false;
    for (const Point& point : scenario.points) {
      if (RunsAt(point, transport)) return true;
    }
    return false;
  };
  std::string server_help;
  std::vector<Unavailable> unavailable;
  std::vector<const ServerSpec*> runnable;
  bool need_certs = false, need_token = false;
  for (const ServerSpec& spec : specs) {
    if (!used(spec.transport)) continue;
    if (!spec.server_flag.empty() && server_help.empty())
      server_help = ServerHelp(server_binary);
    if (std::string missing = MissingPiece(spec, server_help);
        !missing.empty()) {
      std::fprintf(stderr, "dualrpc-bench: not running %s: %s\n",
                   spec.transport.c_str(), missing.c_str());
      unavailable.push_back({spec.transport, std::move(missing)});
      continue;
    }
    need_certs = need_certs || spec.tls;
    need_token = need_token || spec.token;
    runnable.push_back(&spec);
  }
  if (need_certs) {
    std::string generator = absl::GetFlag(FLAGS_make_certs);
    if (generator.empty()) generator = bin_dir + "/dualrpc-bench-make-certs";
    const std::string command = absl::StrCat(
        "'", generator, "' '", certs, "' >'", certs, ".log' 2>&1");
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "dualrpc-bench: %s failed (see %s.log)\n",
                   generator.c_str(), certs.c_str());
      return 1;
    }
  }
  if (need_token) {
    std::ofstream tokens(token_file, std::ios::trunc);
    tokens << "# dualrpc-bench: one principal, every method\n"
           << kBenchToken << " bench\n";
    tokens.close();
    if (!tokens) {
      std::fprintf(stderr, "dualrpc-bench: cannot write %s\n",
                   token_file.c_str());
      return 1;
    }
  }
  std::shared_ptr<FloorTlsContext> floor_tls;
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::unique_ptr<Contender>> contenders;
  std::vector<std::string> server_commands;
  const std::vector<std::string> wrapper = absl::StrSplit(
      absl::GetFlag(FLAGS_server_wrapper), ' ', absl::SkipEmpty());
  for (const ServerSpec* spec : runnable) {
    std::vector<std::string> argv = wrapper;
    argv.insert(argv.end(), spec->argv.begin(), spec->argv.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(spec->transport, argv, work_dir->path(),
                             kServerStartTimeout);
    if (!server.ok()) {
      std::fprintf(stderr, "dualrpc-bench: starting %s: %s\n",
                   spec->transport.c_str(), server.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<std::string> address = (*server)->Address(spec->address_key);
    if (!address.ok()) {
      std::fprintf(stderr, "dualrpc-bench: %s\n",
                   address.status().ToString().c_str());
      return 1;
    }
    server_commands.push_back(
        absl::StrCat(spec->transport, ": ", absl::StrJoin(argv, " ")));
    const ServerProcess* process = server->get();
    if (spec->address_key == "floor") {
      std::shared_ptr<FloorTlsContext> tls;
      if (spec->tls) {
        if (floor_tls == nullptr) {
          absl::StatusOr<std::shared_ptr<FloorTlsContext>> made =
              FloorTlsContext::Client(certs + "/ca.pem", "127.0.0.1");
          if (!made.ok()) {
            std::fprintf(stderr, "dualrpc-bench: %s\n",
                         made.status().ToString().c_str());
            return 1;
          }
          floor_tls = *std::move(made);
        }
        tls = floor_tls;
      }
      contenders.push_back(
          std::make_unique<FloorContender>(*address, process, std::move(tls)));
    } else if (spec->transport == "capnp") {
      contenders.push_back(std::make_unique<CapnpContender>(*address, process));
    } else {
      DualrpcContender::Options options;
      options.transport = spec->transport;
      options.target = absl::StrCat(spec->scheme, "://", *address);
      if (spec->tls) options.tls.ca_file = certs + "/ca.pem";
      if (spec->token) {
        options.metadata.emplace_back("authorization",
                                      absl::StrCat("Bearer ", kBenchToken));
      }
      contenders.push_back(
          std::make_unique<DualrpcContender>(std::move(options), process));
    }
    servers.push_back(*std::move(server));
  }
  if (used("local"))
    contenders.push_back(std::make_unique<LocalListContender>(root));

  // A point of issue 11's groups measures its variants against their bases:
  // with none of its variants runnable here, it is dropped, not run for the
  // bases alone.
  auto variant_runs = [&](const Point& point) {
    if (point.transports.empty()) return true;
    const std::vector<std::string>& classic = ClassicTransports();
    for (const auto& contender : contenders) {
      if (Runs(*contender, point) &&
          std::find(classic.begin(), classic.end(), contender->transport()) ==
              classic.end()) {
        return true;
      }
    }
    return false;
  };
  scenario.points.erase(std::remove_if(scenario.points.begin(),
                                       scenario.points.end(),
                                       [&](const Point& point) {
                                         return !variant_runs(point);
                                       }),
                        scenario.points.end());

  int total = 0;
  for (const Point& point : scenario.points) {
    for (const auto& contender : contenders) {
      if (Runs(*contender, point)) total += scenario.repetitions;
    }
  }
  Progress progress(total);
  std::vector<PointRecord> records;
  bool failed = false;
  for (const Point& point : scenario.points) {
    absl::StatusOr<CpuPlan> cpus = PlanCpus(point.pinning, available);
    if (!cpus.ok()) {
      std::fprintf(stderr, "dualrpc-bench: skipping %s: %s\n",
                   Label(point, "").c_str(), cpus.status().ToString().c_str());
      continue;
    }
    const bool echo = IsMessageWorkload(point.workload.kind);
    const std::size_t first = records.size();
    for (const auto& contender : contenders) {
      if (!Runs(*contender, point)) continue;
      PointRecord record;
      record.point = &point;
      record.transport = std::string(contender->transport());
      record.client_cpus = CpuSetString(cpus->client);
      record.server_cpus =
          contender->server() != nullptr ? CpuSetString(cpus->server) : "";
      records.push_back(std::move(record));
    }
    for (int rep = 0; rep < scenario.repetitions; ++rep) {
      std::size_t index = first;
      for (const auto& contender : contenders) {
        if (!Runs(*contender, point)) continue;
        progress.Begin(absl::StrCat(Label(point, contender->transport()),
                                    " rep ", rep + 1, "/",
                                    scenario.repetitions));
        absl::StatusOr<Repetition> measured = Measure(
            *contender, point, *cpus,
            echo ? scenario.warmup : scenario.list_warmup,
            echo ? scenario.duration : scenario.list_duration,
            echo ? 0 : scenario.list_min_calls,
            echo ? scenario.duration : scenario.list_max_duration, &progress);
        progress.End();
        if (!measured.ok()) {
          std::fprintf(stderr, "dualrpc-bench: %s failed: %s\n",
                       std::string(contender->transport()).c_str(),
                       measured.status().ToString().c_str());
          Repetition broken;
          broken.errors = 1;
          broken.first_error = measured.status().ToString();
          measured = std::move(broken);
        }
        records[index++].repetitions.push_back(*std::move(measured));
      }
    }
  }
  // Restore the client's affinity for whatever runs after.
  PinProcess(0, available).IgnoreError();

  const MachineInfo machine = DescribeMachine();
  PrintReport(scenario, machine, records, unavailable, std::cout);
  std::cout.flush();
  if (const std::string json = absl::GetFlag(FLAGS_json); !json.empty()) {
    absl::Status written =
        WriteJson(json, scenario, machine, server_commands, records,
                  unavailable);
    if (!written.ok()) {
      std::fprintf(stderr, "dualrpc-bench: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  const bool smoke = scenario.name == "smoke";
  for (const PointRecord& record : records) {
    const Summary summary = Summarize(record);
    if (summary.errors > 0 || (smoke && summary.calls == 0)) {
      std::fprintf(
          stderr, "dualrpc-bench: %s at %s: %lld calls, %lld errors %s\n",
          record.transport.c_str(), Label(*record.point, "").c_str(),
          static_cast<long long>(summary.calls),
          static_cast<long long>(summary.errors), summary.first_error.c_str());
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace dualrpc::bench

int main(int argc, char** argv) {
  // Every process of the bench, clients and all servers alike, keeps freed
  // heap (base/heap.h): large messages then cost the same allocator work
  // everywhere.
  dualrpc::base::KeepFreedHeap();
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex lock and
  // unlock also maintains a deadlock graph. The bench's process (the
  // clients) runs without that bookkeeping, as an optimized Abseil would;
  // the servers keep their defaults (docs/BENCHMARKS.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && absl::string_view(argv[1]) == "load") {
    return dualrpc::bench::RunLoadCommand(argc - 1, argv + 1);
  }
  dualrpc::base::ConfigureFlagsUsage(
      "dualrpc-bench",
      "Benchmarks dualrpc (raw and gRPC) against a bare-socket floor and Cap'n "
      "Proto.\n"
      "Usage: dualrpc-bench --scenario smoke|quick|full [--json FILE]\n"
      "       dualrpc-bench load --target URI --call pkg.Svc/Method ... "
      "(dualrpc-bench load --help; the flags of bench/load_command.cc below "
      "are that command's)\n"
      "Exit status: 0 success (and for --help, --version), 1 a failed run, 2 "
      "a usage error.");
  return dualrpc::bench::Run(dualrpc::base::ParseCommandLineOrExit(argc, argv));
}
