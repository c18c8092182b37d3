#ifndef DUALRPC_LOG_ACCESS_LOG_H_
#define DUALRPC_LOG_ACCESS_LOG_H_

// The access log: one line per call, any transport, any status, written
// when the call ends (docs/ARCHITECTURE.md, "The interceptor stage"):
//
//   time=2026-12-02T02:14:07.123456Z transport=raw peer=ipv4:127.0.0.1:5555
//   method=/dualrpc.v1.FileService/Echo code=OK duration_s=0.000123
//   request_bytes=12 response_bytes=12 request_messages=1
//   response_messages=1 principal=alice
//
// (one line in the file). Keys in that order, always present; `error="..."`
// (the status message) is appended only when the code is not OK. logfmt or
// JSON lines (the same keys, numbers as numbers). `time` is when the call
// ended, UTC, microseconds; `duration_s` is from the moment the interceptor
// stage saw the call.
//
// AccessLogInterceptor copies the call's fields into AccessLog's queue as a
// small binary record on the thread that ends the call (an event loop for
// raw) and returns: one writer thread per AccessLog formats the queued
// records into lines and writes them in batches. Neither ever waits for the
// file, and the event loop never formats.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/interceptor.h"

namespace dualrpc::log {

enum class AccessLogFormat { kLogfmt, kJson };

// "logfmt" or "json"; INVALID_ARGUMENT naming both otherwise.
absl::StatusOr<AccessLogFormat> ParseAccessLogFormat(absl::string_view word);

// The fields of one line. Views: valid while the line is formatted.
struct AccessLogEntry {
  absl::Time time;  // when the call ended
  absl::string_view transport;
  absl::string_view peer;
  absl::string_view method;
  absl::StatusCode code = absl::StatusCode::kOk;
  absl::Duration duration;
  std::int64_t request_bytes = 0;
  std::int64_t response_bytes = 0;
  std::int64_t request_messages = 0;
  std::int64_t response_messages = 0;
  absl::string_view principal;
  // Written only when `code` is not OK.
  absl::string_view error;
};

// Appends one line, '\n' included, to `out`. logfmt: a value that is empty
// or holds a space, '=', '"', '\\', a control character or bytes that are
// not UTF-8 is written in double quotes, with \" \\ \n \t and \xHH (other
// control characters and every byte that is not part of valid UTF-8)
// escapes; valid UTF-8 is written as it is. (A backslash quotes the value
// too, so that a backslash in a line is always an escape.) JSON:
// nlohmann::json, key order as logfmt; bytes that are not
// UTF-8 become U+FFFD (JSON cannot carry them).
void AppendAccessLogLine(AccessLogFormat format, const AccessLogEntry& entry,
                         std::string* out);

// One logfmt value, quoted and escaped as above when it needs to be.
void AppendLogfmtValue(absl::string_view value, std::string* out);

struct AccessLogOptions {
  // A file, opened for appending (created 0644 if missing), or "-" for
  // standard output.
  std::string path;
  AccessLogFormat format = AccessLogFormat::kLogfmt;
  // Bytes queued and not yet taken by the writer (records of entries, or
  // lines, each with a few bytes of framing), at most; an entry or line
  // that does not fit is dropped and counted.
  std::size_t buffer_bytes = 8 * 1024 * 1024;
};

// Owns the output file, the bounded queue of entries and lines, and the
// writer thread.
//
// Thread-safe. Append never blocks on the file: it copies the entry's fields
// (or the line) into the queue under a mutex held for that copy only (the
// writer holds the same mutex only to swap the queue with its empty batch
// buffer, never while formatting or writing). The writer formats the batch's
// entries in the log's format, in queue order, and writes at least every
// kFlushInterval and when the queue passes kWakeBytes, one write(2) per
// batch (per 256 KiB of its lines when it is larger, so that the writer's
// buffer stays small). Lines of one AccessLog are never interleaved or
// split.
//
// Destruction writes every line queued before it and joins the writer: it
// waits for the file (an output nobody drains blocks it; a closed pipe does
// not: the lines are dropped). Destroy only after every Append returned.
class AccessLog {
 public:
  // Longest a queued line waits for the writer, and how much queued data
  // wakes it early.
  static constexpr absl::Duration kFlushInterval = absl::Milliseconds(20);
  static constexpr std::size_t kWakeBytes = 64 * 1024;
  // Dropped lines are reported in the process log at most this often.
  static constexpr absl::Duration kDropWarningInterval = absl::Seconds(10);

  // INVALID_ARGUMENT (naming the path and errno) when the file cannot be
  // opened; INVALID_ARGUMENT when buffer_bytes is 0.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Create(
      AccessLogOptions options);

  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  AccessLogFormat format() const { return options_.format; }
  const std::string& path() const { return options_.path; }

  // Queues one call's entry, or drops it when the queue cannot take it: a
  // copy of its fields and strings, formatted by the writer thread into the
  // line AppendAccessLogLine(format(), entry) gives. Any thread; returns
  // without waiting for the file. The views need be valid only during the
  // call.
  void Append(const AccessLogEntry& entry);

  // Queues one formatted line (ending in '\n') as it is, or drops it when
  // the queue cannot take it. Any thread; returns without waiting for the
  // file.
  void Append(absl::string_view line);

  // Reopens the file by its path (logrotate: after a rename, new lines go
  // to a new file): the lines queued before the call are written to the old
  // file first (Flush), those appended after it returns go to the new one;
  // lines appended meanwhile land in either. A no-op for standard output.
  // On failure the old file stays in use and the error names the path. Any
  // thread but the writer; waits for the file (Flush).
  absl::Status Reopen();

  // Returns once every line queued before the call is written (or dropped
  // by a failed write). For tests and the server's drain; waits for the
  // file.
  void Flush();

  // Lines dropped since creation: the queue was full, or their write
  // failed. Any thread (a relaxed load, for metrics).
  std::int64_t dropped_lines() const {
    return dropped_lines_.load(std::memory_order_relaxed);
  }

 private:
  AccessLog(AccessLogOptions options, int fd);

  // Bytes that grow without being zero-filled (as std::string::resize
  // would), so that an entry is encoded straight into the queue.
  struct Bytes {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;
    // Room for `more` bytes at data.get() + size; `size` is unchanged.
    // Grows by doubling, to no more than `limit` unless size + more is.
    char* Extend(std::size_t more, std::size_t limit);
  };

  // Appends one item of `size` bytes to the queue, written by
  // `write(char*)` under the lock, or drops it when it does not fit.
  template <typename Write>
  void Enqueue(std::size_t size, const Write& write);
  void WriterLoop();
  // Writes `lines` (a chunk of a batch's) to the current fd; counts its
  // lines as dropped on error.
  void WriteBatch(absl::string_view lines);
  // Warns of drops not reported yet, at most every kDropWarningInterval
  // (`force`: at once, at shutdown). Writer thread only.
  void ReportDrops(bool force);

  const AccessLogOptions options_;

  absl::Mutex mu_;
  absl::CondVar wake_;
  Bytes queue_ ABSL_GUARDED_BY(mu_);
  // Bytes ever queued / ever handed to WriteBatch (Flush waits for these
  // to meet).
  std::uint64_t queued_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t written_total_ ABSL_GUARDED_BY(mu_) = 0;
  bool flush_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // The output; replaced by Reopen. Held by the writer while it writes.
  absl::Mutex fd_mu_;
  int fd_ ABSL_GUARDED_BY(fd_mu_);

  std::atomic<std::int64_t> dropped_lines_{0};
  // Writer thread only.
  std::int64_t reported_drops_ = 0;
  absl::Time last_drop_warning_ = absl::InfinitePast();

  std::thread writer_;
};

// The access log as a server interceptor: OnCallStart accepts every call at
// once; OnCallEnd formats the call's line (transport, peer, principal from
// the record's context) and appends it. Add it to the registry before the
// interceptors that may reject a call (authentication), so that the stage,
// which ends only the interceptors a call reached, logs rejected calls too;
// the principal is read at the call's end, when authentication has set it.
// Does not own `log`, which must outlive every call through the registry.
class AccessLogInterceptor final : public rpc::ServerInterceptor {
 public:
  explicit AccessLogInterceptor(AccessLog* log) : log_(log) {}

  absl::Status OnCallStart(const rpc::Method& method,
                           rpc::ServerCallContext* context) override;
  void OnCallEnd(const rpc::CallRecord& record) override;
  bool wants_call_end() const override { return true; }

 private:
  AccessLog* const log_;
};

}  // namespace dualrpc::log

#endif  // DUALRPC_LOG_ACCESS_LOG_H_
