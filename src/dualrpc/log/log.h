#ifndef DUALRPC_LOG_LOG_H_
#define DUALRPC_LOG_LOG_H_

// The programs' leveled, timestamped log (spdlog underneath; README says
// why). One process-wide logger writing whole lines to stderr:
//
//   2026-12-02T02:14:07.123Z info dualrpc-server: grpc listening on ...
//
// Time is UTC with milliseconds, then the level (debug, info, warning,
// error), the program's name and the message. Lines below the configured
// level cost one relaxed load. Thread-safe: any thread may log; a line is
// written with one write(2), so lines from different threads never mix.
// Not for per-call output on an event loop: the access log (issue 13) has
// its own non-blocking writer.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace dualrpc::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct LogOptions {
  // The name on every line ("dualrpc-server").
  std::string program = "dualrpc";
  // Lines below this level are not written.
  Level level = Level::kInfo;
};

// Replaces the process's logger. Call once from main before threads that
// log start; until then lines go out with the defaults above.
void Init(const LogOptions& options);

// "debug", "info", "warning" (or "warn"), "error"; INVALID_ARGUMENT
// naming the accepted words otherwise.
absl::StatusOr<Level> ParseLevel(absl::string_view word);
absl::string_view LevelName(Level level);

// Whether a line at `level` would be written (to skip building it).
bool Enabled(Level level);

// Writes one line, unless `level` is below the configured level (the
// message may not contain a newline: any, and any carriage return, is
// replaced by a space, so one event is one line).
void Write(Level level, absl::string_view message);

template <typename... Args>
void Debug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, absl::StrFormat(format, args...));
}
template <typename... Args>
void Info(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, absl::StrFormat(format, args...));
}
template <typename... Args>
void Warning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kWarning)) {
    Write(Level::kWarning, absl::StrFormat(format, args...));
  }
}
template <typename... Args>
void Error(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, absl::StrFormat(format, args...));
}

}  // namespace dualrpc::log

#endif  // DUALRPC_LOG_LOG_H_
