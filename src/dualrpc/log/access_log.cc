#include "dualrpc/log/access_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstddef>
#include <ctime>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
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

// "00" to "99": integers are written two digits at a time.
struct DigitPairs {
  char text[200] = {};
  constexpr DigitPairs() {
    for (int i = 0; i < 100; ++i) {
      text[2 * i] = static_cast<char>('0' + i / 10);
      text[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
  }
};
constexpr DigitPairs kDigitPairs;

char* PutPair(char* p, std::uint64_t two_digits) {
  std::memcpy(p, &kDigitPairs.text[2 * two_digits], 2);
  return p + 2;
}

// `value` (below 10^6) in exactly six digits, zero-padded.
char* PutSixDigits(char* p, std::uint64_t value) {
  p = PutPair(p, value / 10000);
  p = PutPair(p, value / 100 % 100);
  return PutPair(p, value % 100);
}

char* PutInt(char* p, std::int64_t value) {
  std::uint64_t magnitude = static_cast<std::uint64_t>(value);
  if (value < 0) {
    *p++ = '-';
    magnitude = 0 - magnitude;
  }
  // The common sizes of an access log's numbers without a loop.
  if (magnitude < 10) {
    *p++ = static_cast<char>('0' + magnitude);
    return p;
  }
  if (magnitude < 100) return PutPair(p, magnitude);
  char digits[20];
  int n = 20;
  while (magnitude >= 100) {
    n -= 2;
    std::memcpy(&digits[n], &kDigitPairs.text[2 * (magnitude % 100)], 2);
    magnitude /= 100;
  }
  if (magnitude >= 10) {
    n -= 2;
    std::memcpy(&digits[n], &kDigitPairs.text[2 * magnitude], 2);
  } else {
    digits[--n] = static_cast<char>('0' + magnitude);
  }
  return Put(p, absl::string_view(&digits[n], static_cast<std::size_t>(20 - n)));
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
  p = PutSixDigits(p, static_cast<std::uint64_t>(fraction));
  *p++ = 'Z';
  return p;
}

// Seconds with six decimals ("0.000123"), from whole microseconds.
char* PutSeconds(char* p, absl::Duration duration) {
  const std::int64_t micros =
      std::max<std::int64_t>(0, absl::ToInt64Microseconds(duration));
  p = PutInt(p, micros / 1000000);
  *p++ = '.';
  return PutSixDigits(p, static_cast<std::uint64_t>(micros % 1000000));
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

// " transport=... peer=... method=...": the part of a line that a
// connection's calls to one method share (the writer caches it,
// SegmentCache).
char* PutLogfmtCallSite(char* p, const AccessLogEntry& entry) {
  p = Put(p, " transport=");
  p = PutLogfmtValue(p, entry.transport);
  p = Put(p, " peer=");
  p = PutLogfmtValue(p, entry.peer);
  p = Put(p, " method=");
  return PutLogfmtValue(p, entry.method);
}

// Bytes PutLogfmtCallSite writes at most.
std::size_t LogfmtCallSiteBound(const AccessLogEntry& entry) {
  return 32 + LogfmtValueBound(entry.transport) +
         LogfmtValueBound(entry.peer) + LogfmtValueBound(entry.method);
}

// " code=..." to the end of the line, '\n' included.
char* PutLogfmtOutcome(char* p, const AccessLogEntry& entry) {
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

// Writes the line, '\n' included, at `p` (LogfmtLineBound bytes of room);
// returns its end.
char* PutLogfmtLine(char* p, const AccessLogEntry& entry) {
  p = Put(p, "time=");
  p = PutTime(p, entry.time);
  p = PutLogfmtCallSite(p, entry);
  return PutLogfmtOutcome(p, entry);
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

// ---- The queue's items -----------------------------------------------------
//
// The queue is a byte string of items, each an ItemHeader and `size` bytes:
// a line as Append(string_view) was given it, or an entry's record. The
// writer thread alone reads them (RenderBatch), in order.

enum ItemKind : std::uint32_t { kLineItem = 0, kEntryItem = 1 };

struct ItemHeader {
  std::uint32_t kind;
  std::uint32_t size;
};

// An entry's fixed fields; then the bytes of its transport, peer, method,
// principal and error, in that order. `transport_size` to the end of the
// method's bytes is the key of SegmentCache, so those three sizes come last
// and the strings right after them. Copied with memcpy (the queue's bytes
// are not aligned).
struct EntryRecord {
  absl::Time time;
  absl::Duration duration;
  std::int64_t request_bytes;
  std::int64_t response_bytes;
  std::int64_t request_messages;
  std::int64_t response_messages;
  std::int32_t code;
  std::uint32_t principal_size;
  std::uint32_t error_size;
  std::uint32_t transport_size;
  std::uint32_t peer_size;
  std::uint32_t method_size;
};
static_assert(std::is_trivially_copyable_v<EntryRecord>);
constexpr std::size_t kCallSiteKeyOffset =
    offsetof(EntryRecord, transport_size);

std::uint32_t Size32(absl::string_view text) {
  return static_cast<std::uint32_t>(
      std::min<std::size_t>(text.size(), UINT32_MAX));
}

// Bytes EncodeEntry writes for `entry` (an ItemHeader included).
std::size_t EncodedEntrySize(const AccessLogEntry& entry) {
  const bool failed = entry.code != absl::StatusCode::kOk;
  return sizeof(ItemHeader) + sizeof(EntryRecord) + Size32(entry.transport) +
         Size32(entry.peer) + Size32(entry.method) + Size32(entry.principal) +
         (failed ? Size32(entry.error) : 0);
}

// Writes the item of `entry` (`size`, its EncodedEntrySize, bytes) at `p`.
void EncodeEntry(const AccessLogEntry& entry, std::size_t size, char* p) {
  const bool failed = entry.code != absl::StatusCode::kOk;
  EntryRecord record;
  record.time = entry.time;
  record.duration = entry.duration;
  record.request_bytes = entry.request_bytes;
  record.response_bytes = entry.response_bytes;
  record.request_messages = entry.request_messages;
  record.response_messages = entry.response_messages;
  record.code = static_cast<std::int32_t>(entry.code);
  record.principal_size = Size32(entry.principal);
  record.error_size = failed ? Size32(entry.error) : 0;
  record.transport_size = Size32(entry.transport);
  record.peer_size = Size32(entry.peer);
  record.method_size = Size32(entry.method);
  const ItemHeader header = {
      kEntryItem, static_cast<std::uint32_t>(size - sizeof(ItemHeader))};
  std::memcpy(p, &header, sizeof header);
  p += sizeof header;
  std::memcpy(p, &record, sizeof record);
  p += sizeof record;
  p = Put(p, entry.transport.substr(0, record.transport_size));
  p = Put(p, entry.peer.substr(0, record.peer_size));
  p = Put(p, entry.method.substr(0, record.method_size));
  p = Put(p, entry.principal.substr(0, record.principal_size));
  Put(p, entry.error.substr(0, record.error_size));
}

// The entry of a record (`bytes`: an EntryRecord and its strings); views
// into `bytes`. `*call_site_key` becomes the record's SegmentCache key.
AccessLogEntry DecodeEntry(absl::string_view bytes,
                           absl::string_view* call_site_key) {
  EntryRecord record;
  std::memcpy(&record, bytes.data(), sizeof record);
  AccessLogEntry entry;
  entry.time = record.time;
  entry.duration = record.duration;
  entry.request_bytes = record.request_bytes;
  entry.response_bytes = record.response_bytes;
  entry.request_messages = record.request_messages;
  entry.response_messages = record.response_messages;
  entry.code = static_cast<absl::StatusCode>(record.code);
  const char* p = bytes.data() + sizeof record;
  const auto take = [&p](std::uint32_t size) {
    absl::string_view text(p, size);
    p += size;
    return text;
  };
  entry.transport = take(record.transport_size);
  entry.peer = take(record.peer_size);
  entry.method = take(record.method_size);
  *call_site_key = absl::string_view(
      bytes.data() + kCallSiteKeyOffset,
      static_cast<std::size_t>(p - bytes.data()) - kCallSiteKeyOffset);
  entry.principal = take(record.principal_size);
  entry.error = take(record.error_size);
  return entry;
}

// The writer thread's formatter: turns a batch of items into lines, in
// order, handed out in chunks of about kChunkBytes from a buffer that is
// reused (so it stays that small however large the batch). logfmt lines
// take their call site (" transport=... peer=... method=...", escaped) from
// a cache keyed by the raw fields, so that a connection's calls to a method
// check and escape those values once. Writer thread only.
class BatchRenderer {
 public:
  // Call sites cached at most; the cache starts afresh when full.
  static constexpr std::size_t kMaxCallSites = 4096;
  // Lines handed to the sink at a time (at least; a line is never split).
  static constexpr std::size_t kChunkBytes = 256 * 1024;

  explicit BatchRenderer(AccessLogFormat format) : format_(format) {}

  // Calls `sink(lines)` with the lines of `batch`, in order, in chunks of
  // whole lines; each view is valid during its call only.
  template <typename Sink>
  void Render(absl::string_view batch, const Sink& sink) {
    used_ = 0;
    std::size_t at = 0;
    while (at + sizeof(ItemHeader) <= batch.size()) {
      ItemHeader header;
      std::memcpy(&header, batch.data() + at, sizeof header);
      at += sizeof header;
      const absl::string_view item = batch.substr(at, header.size);
      at += header.size;
      if (header.kind == kLineItem) {
        Append(item);
      } else {
        RenderEntry(item);
      }
      if (used_ >= kChunkBytes) {
        sink(absl::string_view(out_.data(), used_));
        used_ = 0;
      }
    }
    if (used_ > 0) sink(absl::string_view(out_.data(), used_));
  }

 private:
  // Room for `bytes` more at out_[used_].
  char* Reserve(std::size_t bytes) {
    if (used_ + bytes > out_.size()) out_.resize(2 * (used_ + bytes));
    return out_.data() + used_;
  }
  void Append(absl::string_view text) {
    Put(Reserve(text.size()), text);
    used_ += text.size();
  }

  void RenderEntry(absl::string_view bytes) {
    absl::string_view key;
    const AccessLogEntry entry = DecodeEntry(bytes, &key);
    if (format_ == AccessLogFormat::kJson) {
      json_line_.clear();
      AppendJsonLine(entry, &json_line_);
      Append(json_line_);
      return;
    }
    const absl::string_view call_site = CallSite(key, entry);
    char* const begin = Reserve(LogfmtLineBound(entry));
    char* p = Put(begin, "time=");
    p = PutTime(p, entry.time);
    p = Put(p, call_site);
    p = PutLogfmtOutcome(p, entry);
    used_ += static_cast<std::size_t>(p - begin);
  }

  absl::string_view CallSite(absl::string_view key,
                             const AccessLogEntry& entry) {
    if (last_ != nullptr && last_->first == key) return last_->second;
    auto it = call_sites_.find(key);
    if (it == call_sites_.end()) {
      if (call_sites_.size() >= kMaxCallSites) call_sites_.clear();
      std::string text(LogfmtCallSiteBound(entry), '\0');
      text.resize(static_cast<std::size_t>(
          PutLogfmtCallSite(text.data(), entry) - text.data()));
      it = call_sites_.emplace(std::string(key), std::move(text)).first;
    }
    // flat_hash_map moves its values on rehash, so `last_` is re-pointed
    // on every miss and cleared with the map.
    last_ = &*it;
    return last_->second;
  }

  const AccessLogFormat format_;
  std::string out_;
  std::size_t used_ = 0;
  std::string json_line_;
  absl::flat_hash_map<std::string, std::string> call_sites_;
  const std::pair<const std::string, std::string>* last_ = nullptr;
};

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

char* AccessLog::Bytes::Extend(std::size_t more, std::size_t limit) {
  if (size + more > capacity) {
    const std::size_t grown =
        std::max(std::min(2 * capacity, limit), size + more);
    std::unique_ptr<char[]> bigger(new char[grown]);
    if (size > 0) std::memcpy(bigger.get(), data.get(), size);
    data = std::move(bigger);
    capacity = grown;
  }
  return data.get() + size;
}

template <typename Write>
void AccessLog::Enqueue(std::size_t size, const Write& write) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.size + size > options_.buffer_bytes) {
      dropped_lines_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const bool was_below = queue_.size < kWakeBytes;
    write(queue_.Extend(size, options_.buffer_bytes));
    queue_.size += size;
    queued_total_ += size;
    wake = was_below && queue_.size >= kWakeBytes;
  }
  if (wake) wake_.Signal();
}

void AccessLog::Append(const AccessLogEntry& entry) {
  const std::size_t size = EncodedEntrySize(entry);
  Enqueue(size, [&entry, size](char* p) { EncodeEntry(entry, size, p); });
}

void AccessLog::Append(absl::string_view line) {
  const ItemHeader header = {
      kLineItem, static_cast<std::uint32_t>(std::min<std::size_t>(
                     line.size(), UINT32_MAX))};
  Enqueue(sizeof header + header.size, [&header, line](char* p) {
    std::memcpy(p, &header, sizeof header);
    std::memcpy(p + sizeof header, line.data(), header.size);
  });
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

void AccessLog::WriteBatch(absl::string_view batch) {
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

  BatchRenderer renderer(options_.format);
  Bytes batch;
  for (;;) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.size < kWakeBytes && !flush_requested_ && !stopping_) {
        wake_.WaitWithTimeout(&mu_, kFlushInterval);
      }
      // The queue takes the batch's (cleared) buffer: no reallocation in
      // the steady state.
      std::swap(batch, queue_);
      flush_requested_ = false;
      stopping = stopping_;
    }
    renderer.Render(absl::string_view(batch.data.get(), batch.size),
                    [this](absl::string_view lines) { WriteBatch(lines); });
    {
      absl::MutexLock lock(&mu_);
      written_total_ += batch.size;
    }
    batch.size = 0;
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
  // A copy per call (an allocation: the address is longer than the
  // small-string buffer); a ServerCallContext accessor returning the
  // transport's own string would save it (docs/BENCHMARKS.md).
  const std::string peer = record.context->peer();
  AccessLogEntry entry;
  entry.time = record.start + record.duration;
  entry.transport = record.context->transport();
  entry.peer = peer;
  entry.method = record.method->path;
  // ok() is inline; code() is a call into libabsl.
  entry.code =
      record.status.ok() ? absl::StatusCode::kOk : record.status.code();
  entry.duration = record.duration;
  entry.request_bytes = record.request_bytes;
  entry.response_bytes = record.response_bytes;
  entry.request_messages = record.request_messages;
  entry.response_messages = record.response_messages;
  entry.principal = record.context->principal();
  entry.error = record.status.message();
  log_->Append(entry);
}

}  // namespace dualrpc::log
