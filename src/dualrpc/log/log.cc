#include "dualrpc/log/log.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/logger.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace dualrpc::log {
namespace {

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarning:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The process's logger. Replaced only by Init (under the mutex); readers
// take a shared_ptr copy, so a line in progress keeps its logger alive.
class Logger {
 public:
  Logger() { Replace(LogOptions()); }

  void Replace(const LogOptions& options) {
    // stderr_sink_mt: one fwrite of the formatted line under the sink's
    // mutex, flushed at once (stderr is unbuffered).
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(options.program, sink);
    // %l is spdlog's level word; warning is spelt out below.
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc));
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);
    absl::MutexLock lock(&mu_);
    logger_ = std::move(logger);
    program_ = options.program;
    level_.store(static_cast<int>(options.level), std::memory_order_relaxed);
  }

  bool Enabled(Level level) const {
    return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
  }

  void Write(Level level, absl::string_view message) {
    // Below the level: not written, whoever calls (log.h's contract for
    // LogOptions::level holds for Write too, not only for Info & co).
    if (!Enabled(level)) return;
    std::shared_ptr<spdlog::logger> logger;
    std::string line;
    {
      absl::MutexLock lock(&mu_);
      logger = logger_;
      line = absl::StrCat(LevelName(level), " ", program_, ": ");
    }
    const std::size_t prefix = line.size();
    line.append(message.data(), message.size());
    // One event, one line: a carriage return would let a message overwrite
    // its own line on a terminal, so it goes too.
    std::replace_if(
        line.begin() + prefix, line.end(),
        [](char c) { return c == '\n' || c == '\r'; }, ' ');
    logger->log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<spdlog::logger> logger_ ABSL_GUARDED_BY(mu_);
  std::string program_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> level_{static_cast<int>(Level::kInfo)};
};

Logger& TheLogger() {
  static Logger* logger = new Logger();  // never destroyed: threads log late
  return *logger;
}

}  // namespace

void Init(const LogOptions& options) { TheLogger().Replace(options); }

absl::StatusOr<Level> ParseLevel(absl::string_view word) {
  const std::string lower = absl::AsciiStrToLower(word);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warning" || lower == "warn") return Level::kWarning;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError(absl::StrCat(
      "log level must be debug, info, warning or error, not \"", word, "\""));
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool Enabled(Level level) { return TheLogger().Enabled(level); }

void Write(Level level, absl::string_view message) {
  TheLogger().Write(level, message);
}

}  // namespace dualrpc::log
