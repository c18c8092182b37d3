#include "dualrpc/log/access_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dualrpc/log/log.h"
#include "dualrpc/rpc/call.h"
#include "dualrpc/rpc/service_registry.h"
#include "nlohmann/json.hpp"

namespace dualrpc::log {
namespace {

// gRPC's code names, by code (absl::StatusCodeToString allocates).
absl::string_view CodeName(absl::StatusCode code) {
  static constexpr absl::string_view kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  const int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kNames))) {
    return "UNKNOWN";
  }
  return kNames[index];
}

// The line is written through a raw cursor into a buffer sized for the
// worst case beforehand (every value byte escaped as \xHH): one resize per
// line instead of a capacity check per piece.
char* Put(char* p, absl::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

// `value` in exactly `width` digits, zero-padded.
char* PutDigits(char* p, std::uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

char* PutInt(char* p, std::int64_t value) {
  std::uint64_t magnitude = static_cast<std::uint64_t>(value);
  if (value < 0) {
    *p++ = '-';
    magnitude = 0 - magnitude;
  }
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  while (n > 0) *p++ = digits[--n];
  return p;
}

// "2026-12-02T02:14:07.123456Z". The part up to the seconds is formatted
// once per second per thread.
constexpr std::size_t kTimeBytes = 27;
char* PutTime(char* p, absl::Time time) {
  struct SecondCache {
    std::int64_t second = INT64_MIN;
    char text[32];
    std::size_t size = 0;
  };
  thread_local SecondCache cache;
  const std::int64_t micros = absl::ToUnixMicros(time);
  std::int64_t second = micros / 1000000;
  std::int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --second;
  }
  if (second != cache.second) {
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm utc;
    ::gmtime_r(&t, &utc);
    cache.size =
        std::strftime(cache.text, sizeof cache.text, "%Y-%m-%dT%H:%M:%S", &utc);
    cache.second = second;
  }
  p = Put(p, absl::string_view(cache.text, cache.size));
  *p++ = '.';
  p = PutDigits(p, static_cast<std::uint64_t>(fraction), 6);
  *p++ = 'Z';
  return p;
}

// Seconds with six decimals ("0.000123"), from whole microseconds.
char* PutSeconds(char* p, absl::Duration duration) {
  const std::int64_t micros =
      std::max<std::int64_t>(0, absl::ToInt64Microseconds(duration));
  p = PutInt(p, micros / 1000000);
  *p++ = '.';
  return PutDigits(p, static_cast<std::uint64_t>(micros % 1000000), 6);
}

// Length of the valid UTF-8 sequence (2 to 4 bytes) starting at `s[i]`, a
// byte >= 0x80; 0 when it is not one (overlong forms and surrogates
// included).
std::size_t Utf8SequenceLength(absl::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(s[k]);
  };
  const unsigned char lead = byte(i);
  std::size_t length;
  unsigned char low = 0x80, high = 0xBF;  // the second byte's range
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = i + 2; k < i + length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return length;
}

// The ASCII bytes that may stand in an unquoted logfmt value (so may valid
// UTF-8 beyond ASCII).
struct PlainTable {
  bool plain[256] = {};
  constexpr PlainTable() {
    for (int c = 0x21; c < 0x7F; ++c)
      plain[c] = c != '=' && c != '"' && c != '\\';
  }
};
constexpr PlainTable kPlain;

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) return true;
  for (std::size_t i = 0; i < value.size();) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (kPlain.plain[c]) {
      ++i;
    } else if (c < 0x80) {
      return true;
    } else if (const std::size_t n = Utf8SequenceLength(value, i); n > 0) {
      i += n;
    } else {
      return true;
    }
  }
  return false;
}

char* PutEscapedByte(char* p, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '\\';
  *p++ = 'x';
  *p++ = kHex[c >> 4];
  *p++ = kHex[c & 0xF];
  return p;
}

// Bytes PutLogfmtValue writes at most for `value`.
std::size_t LogfmtValueBound(absl::string_view value) {
  return 4 * value.size() + 2;
}

char* PutLogfmtValue(char* p, absl::string_view value) {
  // One pass in the common case: copied while plain; at the first byte that
  // is not, the copy is abandoned and the value quoted.
  if (!value.empty()) {
    char* q = p;
    std::size_t i = 0;
    while (i < value.size() &&
           kPlain.plain[static_cast<unsigned char>(value[i])]) {
      *q++ = value[i++];
    }
    if (i == value.size()) return q;
    if (!NeedsQuotes(value)) return Put(p, value);  // UTF-8 beyond ASCII
  }
  *p++ = '"';
  for (std::size_t i = 0; i < value.size();) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      if (const std::size_t n = Utf8SequenceLength(value, i); n > 0) {
        p = Put(p, value.substr(i, n));
        i += n;
      } else {
        p = PutEscapedByte(p, c);
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        p = Put(p, "\\\"");
        break;
      case '\\':
        p = Put(p, "\\\\");
        break;
      case '\n':
        p = Put(p, "\\n");
        break;
      case '\t':
        p = Put(p, "\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          p = PutEscapedByte(p, c);
        } else {
          *p++ = static_cast<char>(c);
        }
    }
    ++i;
  }
  *p++ = '"';
  return p;
}

// Bytes PutLogfmtLine writes at most for `entry`.
std::size_t LogfmtLineBound(const AccessLogEntry& entry) {
  // Keys, separators, the time, the code and five numbers (20 digits and
  // a sign each, the duration's point and decimals): well under 320.
  constexpr std::size_t kFixedBytes = 320;
  return kFixedBytes + LogfmtValueBound(entry.transport) +
         LogfmtValueBound(entry.peer) + LogfmtValueBound(entry.method) +
         LogfmtValueBound(entry.principal) +
         (entry.code != absl::StatusCode::kOk ? LogfmtValueBound(entry.error)
                                              : 0);
}

// Writes the line, '\n' included, at `p` (LogfmtLineBound bytes of room);
// returns its end.
char* PutLogfmtLine(char* p, const AccessLogEntry& entry) {
  p = Put(p, "time=");
  p = PutTime(p, entry.time);
  p = Put(p, " transport=");
  p = PutLogfmtValue(p, entry.transport);
  p = Put(p, " peer=");
  p = PutLogfmtValue(p, entry.peer);
  p = Put(p, " method=");
  p = PutLogfmtValue(p, entry.method);
  p = Put(p, " code=");
  p = Put(p, CodeName(entry.code));
  p = Put(p, " duration_s=");
  p = PutSeconds(p, entry.duration);
  p = Put(p, " request_bytes=");
  p = PutInt(p, entry.request_bytes);
  p = Put(p, " response_bytes=");
  p = PutInt(p, entry.response_bytes);
  p = Put(p, " request_messages=");
  p = PutInt(p, entry.request_messages);
  p = Put(p, " response_messages=");
  p = PutInt(p, entry.response_messages);
  p = Put(p, " principal=");
  p = PutLogfmtValue(p, entry.principal);
  if (entry.code != absl::StatusCode::kOk) {
    p = Put(p, " error=");
    p = PutLogfmtValue(p, entry.error);
  }
  *p++ = '\n';
  return p;
}

void AppendLogfmtLine(const AccessLogEntry& entry, std::string* out) {
  const std::size_t start = out->size();
  out->resize(start + LogfmtLineBound(entry));
  char* const begin = out->data() + start;
  char* const end = PutLogfmtLine(begin, entry);
  out->resize(start + static_cast<std::size_t>(end - begin));
}

void AppendJsonLine(const AccessLogEntry& entry, std::string* out) {
  char time[kTimeBytes];
  PutTime(time, entry.time);
  nlohmann::ordered_json line;
  line["time"] = std::string(time, sizeof time);
  line["transport"] = entry.transport;
  line["peer"] = entry.peer;
  line["method"] = entry.method;
  line["code"] = CodeName(entry.code);
  // Whole microseconds, as in logfmt.
  line["duration_s"] = static_cast<double>(std::max<std::int64_t>(
                           0, absl::ToInt64Microseconds(entry.duration))) /
                       1e6;
  line["request_bytes"] = entry.request_bytes;
  line["response_bytes"] = entry.response_bytes;
  line["request_messages"] = entry.request_messages;
  line["response_messages"] = entry.response_messages;
  line["principal"] = entry.principal;
  if (entry.code != absl::StatusCode::kOk) line["error"] = entry.error;
  out->append(line.dump(-1, ' ', /*ensure_ascii=*/false,
                        nlohmann::ordered_json::error_handler_t::replace));
  out->push_back('\n');
}

// Opens `path` for appending; "-" is a duplicate of standard output.
absl::StatusOr<int> OpenOutput(const std::string& path) {
  const int fd = path == "-"
                     ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0)
                     : ::open(path.c_str(),
                              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open \"", path, "\" for appending: ", std::strerror(errno)));
  }
  return fd;
}

}  // namespace

absl::StatusOr<AccessLogFormat> ParseAccessLogFormat(absl::string_view word) {
  if (word == "logfmt") return AccessLogFormat::kLogfmt;
  if (word == "json") return AccessLogFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "access log format must be logfmt or json, not \"", word, "\""));
}

void AppendLogfmtValue(absl::string_view value, std::string* out) {
  const std::size_t start = out->size();
  out->resize(start + LogfmtValueBound(value));
  char* const begin = out->data() + start;
  char* const end = PutLogfmtValue(begin, value);
  out->resize(start + static_cast<std::size_t>(end - begin));
}

void AppendAccessLogLine(AccessLogFormat format, const AccessLogEntry& entry,
                         std::string* out) {
  if (format == AccessLogFormat::kJson) {
    AppendJsonLine(entry, out);
  } else {
    AppendLogfmtLine(entry, out);
  }
}

// ---- AccessLog -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Create(
    AccessLogOptions options) {
  if (options.buffer_bytes == 0) {
    return absl::InvalidArgumentError("access log buffer must not be empty");
  }
  absl::StatusOr<int> fd = OpenOutput(options.path);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(options), *fd));
}

AccessLog::AccessLog(AccessLogOptions options, int fd)
    : options_(std::move(options)), fd_(fd) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AccessLog::~AccessLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.Signal();
  writer_.join();
  absl::MutexLock lock(&fd_mu_);
  ::close(fd_);
}

void AccessLog::Append(absl::string_view line) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.size() + line.size() > options_.buffer_bytes) {
      dropped_lines_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const bool was_below = queue_.size() < kWakeBytes;
    queue_.append(line.data(), line.size());
    queued_total_ += line.size();
    wake = was_below && queue_.size() >= kWakeBytes;
  }
  if (wake) wake_.Signal();
}

void AccessLog::Flush() {
  absl::MutexLock lock(&mu_);
  const std::uint64_t target = queued_total_;
  flush_requested_ = true;
  wake_.Signal();
  const auto written = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return written_total_ >= target;
  };
  mu_.Await(absl::Condition(&written));
}

absl::Status AccessLog::Reopen() {
  if (options_.path == "-") return absl::OkStatus();
  Flush();
  absl::StatusOr<int> fd = OpenOutput(options_.path);
  if (!fd.ok()) return fd.status();
  int old_fd;
  {
    absl::MutexLock lock(&fd_mu_);
    old_fd = fd_;
    fd_ = *fd;
  }
  ::close(old_fd);
  return absl::OkStatus();
}

void AccessLog::WriteBatch(const std::string& batch) {
  absl::MutexLock lock(&fd_mu_);
  std::size_t done = 0;
  while (done < batch.size()) {
    const ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    // Every line not wholly written: those from the one cut at `done` on.
    dropped_lines_.fetch_add(
        std::count(batch.begin() + static_cast<std::ptrdiff_t>(done),
                   batch.end(), '\n'),
        std::memory_order_relaxed);
    return;
  }
}

void AccessLog::ReportDrops(bool force) {
  const std::int64_t dropped = dropped_lines();
  if (dropped == reported_drops_) return;
  const absl::Time now = absl::Now();
  if (!force && now - last_drop_warning_ < kDropWarningInterval) return;
  Warning(
      "access log %s: dropped %d lines (%d in all): the queue of %d bytes "
      "was full or the write failed",
      options_.path, dropped - reported_drops_, dropped, options_.buffer_bytes);
  reported_drops_ = dropped;
  last_drop_warning_ = now;
}

void AccessLog::WriterLoop() {
  // A write to a closed pipe fails with EPIPE here instead of killing the
  // process (the signal stays pending on this thread, which never takes it).
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  std::string batch;
  for (;;) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.size() < kWakeBytes && !flush_requested_ && !stopping_) {
        wake_.WaitWithTimeout(&mu_, kFlushInterval);
      }
      // The queue takes the batch's (cleared) buffer: no reallocation in
      // the steady state.
      batch.swap(queue_);
      flush_requested_ = false;
      stopping = stopping_;
    }
    if (!batch.empty()) WriteBatch(batch);
    {
      absl::MutexLock lock(&mu_);
      written_total_ += batch.size();
    }
    batch.clear();
    ReportDrops(/*force=*/stopping);
    if (stopping) {
      // Append is not called once destruction started: the queue is empty.
      return;
    }
  }
}

// ---- AccessLogInterceptor --------------------------------------------------

absl::Status AccessLogInterceptor::OnCallStart(const rpc::Method&,
                                               rpc::ServerCallContext*) {
  return absl::OkStatus();
}

void AccessLogInterceptor::OnCallEnd(const rpc::CallRecord& record) {
  const std::string peer = record.context->peer();
  AccessLogEntry entry;
  entry.time = record.start + record.duration;
  entry.transport = record.context->transport();
  entry.peer = peer;
  entry.method = record.method->path;
  entry.code = record.status.code();
  entry.duration = record.duration;
  entry.request_bytes = record.request_bytes;
  entry.response_bytes = record.response_bytes;
  entry.request_messages = record.request_messages;
  entry.response_messages = record.response_messages;
  entry.principal = record.context->principal();
  entry.error = record.status.message();
  // logfmt lines of ordinary size are written into this thread's buffer
  // (no allocation, no fill); others through a string.
  thread_local char buffer[2048];
  if (log_->format() == AccessLogFormat::kLogfmt &&
      LogfmtLineBound(entry) <= sizeof buffer) {
    const char* const end = PutLogfmtLine(buffer, entry);
    log_->Append(
        absl::string_view(buffer, static_cast<std::size_t>(end - buffer)));
    return;
  }
  std::string line;
  AppendAccessLogLine(log_->format(), entry, &line);
  log_->Append(line);
}

}  // namespace dualrpc::log
