#include "dualrpc/fileservice/file_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "dualrpc/base/posix_error.h"
#include "dualrpc/fileservice/page_token.h"

namespace dualrpc::fileservice {
namespace {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// A peer-supplied path or a name from the served tree, safe to put in a
// message: quoted, non-printable bytes escaped.
std::string Quote(absl::string_view bytes) {
  return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
}

// How a UTF-8 sequence may start (Unicode 15, table 3-7): its total length
// and the range its second byte must fall in. Later bytes are 80..BF.
// length 0: the byte can never start a well-formed sequence.
struct Utf8Lead {
  std::size_t length;
  uint8_t second_min;
  uint8_t second_max;
};

Utf8Lead LeadOf(uint8_t byte) {
  if (byte <= 0x7F) return {1, 0, 0};
  if (byte >= 0xC2 && byte <= 0xDF) return {2, 0x80, 0xBF};
  if (byte == 0xE0) return {3, 0xA0, 0xBF};
  if (byte == 0xED) return {3, 0x80, 0x9F};  // No surrogates.
  if (byte >= 0xE1 && byte <= 0xEF) return {3, 0x80, 0xBF};
  if (byte == 0xF0) return {4, 0x90, 0xBF};
  if (byte >= 0xF1 && byte <= 0xF3) return {4, 0x80, 0xBF};
  if (byte == 0xF4) return {4, 0x80, 0x8F};  // Nothing above U+10FFFF.
  return {0, 0, 0};
}

// Measures the sequence at the front of non-empty `bytes`. Returns true and
// its length if it is well formed; otherwise false and the length of its
// maximal subpart (at least 1), which becomes one U+FFFD.
bool NextSequence(absl::string_view bytes, std::size_t* length) {
  const Utf8Lead lead = LeadOf(static_cast<uint8_t>(bytes[0]));
  if (lead.length == 0) {
    *length = 1;
    return false;
  }
  for (std::size_t i = 1; i < lead.length; ++i) {
    const uint8_t min = i == 1 ? lead.second_min : 0x80;
    const uint8_t max = i == 1 ? lead.second_max : 0xBF;
    if (i >= bytes.size() || static_cast<uint8_t>(bytes[i]) < min ||
        static_cast<uint8_t>(bytes[i]) > max) {
      *length = i;
      return false;
    }
  }
  *length = lead.length;
  return true;
}

// Stores `raw` in the proto string field `*text`, replacing each maximal
// ill-formed subpart with U+FFFD (the W3C/Unicode "best practice"). When any
// replacement happened, also stores the exact bytes in `*raw_bytes`.
void SetTextField(absl::string_view raw, std::string* text,
                  std::string* raw_bytes) {
  text->clear();
  text->reserve(raw.size());
  bool replaced = false;
  absl::string_view rest = raw;
  while (!rest.empty()) {
    std::size_t length = 0;
    if (NextSequence(rest, &length)) {
      text->append(rest.data(), length);
    } else {
      text->append(kReplacementCharacter.data(), kReplacementCharacter.size());
      replaced = true;
    }
    rest.remove_prefix(length);
  }
  if (replaced) raw_bytes->assign(raw.data(), raw.size());
}

v1::DirectoryEntry::Type TypeOf(mode_t mode) {
  if (S_ISREG(mode)) return v1::DirectoryEntry::TYPE_FILE;
  if (S_ISDIR(mode)) return v1::DirectoryEntry::TYPE_DIRECTORY;
  if (S_ISLNK(mode)) return v1::DirectoryEntry::TYPE_SYMLINK;
  return v1::DirectoryEntry::TYPE_OTHER;
}

// The page size to use for `requested`, per file_service.proto. Misconfigured
// options are tightened so that every page holds at least one entry.
absl::StatusOr<std::size_t> EffectivePageSize(int32_t requested,
                                              const FileServiceOptions& o) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  const int32_t max = std::max<int32_t>(o.max_page_size, 1);
  const int32_t size = requested == 0
                           ? std::clamp<int32_t>(o.default_page_size, 1, max)
                           : std::min(requested, max);
  return static_cast<std::size_t>(size);
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirStream = std::unique_ptr<DIR, DirCloser>;

// One page of names, ascending by bytes, and whether more names follow it.
struct PageOfNames {
  std::vector<std::string> names;
  bool more = false;
};

// Calls `visit` with every name in `dir` except "." and "..", until it
// returns false. The one readdir loop of this file.
absl::Status ForEachName(DIR* dir, absl::string_view request_path,
                         absl::FunctionRef<bool(absl::string_view)> visit) {
  while (true) {
    errno = 0;
    const struct dirent* record = ::readdir(dir);
    if (record == nullptr) {
      if (errno == 0) return absl::OkStatus();
      return base::PosixError(
          absl::StrCat("read directory ", Quote(request_path)), errno);
    }
    const absl::string_view name = record->d_name;
    if (name == "." || name == "..") continue;
    if (!visit(name)) return absl::OkStatus();
  }
}

// Reads every name in `dir` and keeps the `page_size` smallest that sort
// strictly after `last_name`. Memory is O(page_size), time O(N log page_size)
// for N names. std::string compares as unsigned bytes, which is the order
// the contract promises.
// Used when the listing cache is off or the directory is too large for it:
// then every page re-reads the whole directory (the token carries no server
// state), so paging through N names costs O(N^2 / page_size) reads.
absl::StatusOr<PageOfNames> ReadPage(DIR* dir, absl::string_view last_name,
                                     std::size_t page_size,
                                     absl::string_view request_path) {
  // Max-heap: front() is the largest name kept so far.
  std::vector<std::string> heap;
  heap.reserve(std::min<std::size_t>(page_size, 1024));
  std::size_t names_after_cursor = 0;
  absl::Status read =
      ForEachName(dir, request_path, [&](absl::string_view name) {
        if (name <= last_name) return true;
        ++names_after_cursor;
        if (heap.size() < page_size) {
          heap.emplace_back(name);
          std::push_heap(heap.begin(), heap.end());
        } else if (name < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back().assign(name.data(), name.size());
          std::push_heap(heap.begin(), heap.end());
        }
        return true;
      });
  if (!read.ok()) return read;
  std::sort_heap(heap.begin(), heap.end());
  PageOfNames page;
  page.more = names_after_cursor > heap.size();
  page.names = std::move(heap);
  return page;
}

// Every name in `dir`, sorted by bytes; nullopt (with the stream rewound) as
// soon as there are more than `limit`, so memory stays bounded.
absl::StatusOr<std::optional<std::vector<std::string>>> ReadAllNames(
    DIR* dir, std::size_t limit, absl::string_view request_path) {
  std::vector<std::string> names;
  bool over_limit = false;
  absl::Status read =
      ForEachName(dir, request_path, [&](absl::string_view name) {
        if (names.size() == limit) {
          over_limit = true;
          return false;
        }
        names.emplace_back(name);
        return true;
      });
  if (!read.ok()) return read;
  if (over_limit) {
    ::rewinddir(dir);
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The page after `last_name` in a sorted list of names.
PageOfNames PageFromSorted(const std::vector<std::string>& names,
                           const std::string& last_name,
                           std::size_t page_size) {
  auto first = std::upper_bound(names.begin(), names.end(), last_name);
  const std::size_t remaining = names.end() - first;
  PageOfNames page;
  page.more = remaining > page_size;
  page.names.assign(first, first + std::min(remaining, page_size));
  return page;
}

// The stored target of symlink `name` in `dir_fd`. NOT_FOUND when the entry
// vanished or stopped being a symlink after it was lstat'ed.
absl::StatusOr<std::string> ReadSymlinkTarget(int dir_fd,
                                              const std::string& name) {
  char target[PATH_MAX];
  const ssize_t length = ::readlinkat(dir_fd, name.c_str(), target, PATH_MAX);
  if (length < 0) {
    if (errno == ENOENT || errno == EINVAL) {
      return absl::NotFoundError("entry changed while listing");
    }
    return base::PosixError(absl::StrCat("read symlink ", Quote(name)), errno);
  }
  // Linux caps targets below PATH_MAX, so a full buffer means truncation.
  if (length >= PATH_MAX) {
    return absl::OutOfRangeError(
        absl::StrCat("symlink target too long: ", Quote(name)));
  }
  return std::string(target, static_cast<std::size_t>(length));
}

// Appends the entry for `name`, lstat'ed in `dir_fd`, to `response`. An
// entry that vanished since readdir is skipped: that is not an error.
absl::Status AppendEntry(int dir_fd, const std::string& name,
                         absl::string_view request_path,
                         v1::ListDirectoryResponse* response) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return base::PosixError(
        absl::StrCat("stat ", Quote(name), " in ", Quote(request_path)), errno);
  }
  std::string symlink_target;
  if (S_ISLNK(st.st_mode)) {
    absl::StatusOr<std::string> target = ReadSymlinkTarget(dir_fd, name);
    if (absl::IsNotFound(target.status())) return absl::OkStatus();
    if (!target.ok()) return target.status();
    symlink_target = *std::move(target);
  }

  v1::DirectoryEntry* entry = response->add_entries();
  SetTextField(name, entry->mutable_name(), entry->mutable_raw_name());
  entry->set_type(TypeOf(st.st_mode));
  entry->set_size_bytes(static_cast<uint64_t>(st.st_size));
  entry->set_mode(static_cast<uint32_t>(st.st_mode & 07777));
  entry->mutable_modify_time()->set_seconds(st.st_mtim.tv_sec);
  entry->mutable_modify_time()->set_nanos(
      static_cast<int32_t>(st.st_mtim.tv_nsec));
  if (S_ISLNK(st.st_mode)) {
    SetTextField(symlink_target, entry->mutable_symlink_target(),
                 entry->mutable_raw_symlink_target());
  }
  return absl::OkStatus();
}

// The page after `last_name`: from the listing cache when the directory is
// unchanged since it was cached, else by reading the directory (and caching
// the sorted names when it is small enough), else by one bounded streaming
// pass (ReadPage).
absl::StatusOr<PageOfNames> SelectPage(DIR* dir, ListingCache* cache,
                                       const std::string& last_name,
                                       std::size_t page_size,
                                       absl::string_view request_path) {
  if (cache == nullptr)
    return ReadPage(dir, last_name, page_size, request_path);
  // The stat precedes the read: a change during the read makes the stored
  // timestamps stale, so the entry can never be found with them.
  struct stat st;
  if (::fstat(::dirfd(dir), &st) != 0) {
    return base::PosixError(
        absl::StrCat("stat directory ", Quote(request_path)), errno);
  }
  if (ListingCache::Names names = cache->Find(st)) {
    return PageFromSorted(*names, last_name, page_size);
  }
  const absl::Time read_started = absl::Now();
  absl::StatusOr<std::optional<std::vector<std::string>>> all =
      ReadAllNames(dir, cache->max_names(), request_path);
  if (!all.ok()) return all.status();
  if (!all->has_value())
    return ReadPage(dir, last_name, page_size, request_path);
  auto names =
      std::make_shared<const std::vector<std::string>>(std::move(**all));
  PageOfNames page = PageFromSorted(*names, last_name, page_size);
  cache->Insert(st, std::move(names), read_started);
  return page;
}

}  // namespace

FileServiceCore::FileServiceCore(ServedRoot root, FileServiceOptions options)
    : root_(std::move(root)),
      options_(options),
      listing_cache_(
          options.listing_cache_names == 0
              ? nullptr
              : std::make_unique<ListingCache>(options.listing_cache_names,
                                               options.listing_cache_settle)) {}

absl::Status FileServiceCore::Echo(const v1::EchoRequest& request,
                                   v1::EchoResponse* response) const {
  response->set_payload(request.payload());
  return absl::OkStatus();
}

// The token binds to request.path() as spelled, except that "" and "." are
// the same path (see page_token.h): "a" and "a/" are different paths.
absl::Status FileServiceCore::ListDirectory(
    const v1::ListDirectoryRequest& request,
    v1::ListDirectoryResponse* response) const {
  response->Clear();
  const absl::StatusOr<std::size_t> page_size =
      EffectivePageSize(request.page_size(), options_);
  if (!page_size.ok()) return page_size.status();

  std::string last_name;
  if (!request.page_token().empty()) {
    absl::StatusOr<PageCursor> cursor =
        DecodePageToken(request.page_token(), request.path());
    if (!cursor.ok()) return cursor.status();
    last_name = std::move(cursor->last_name);
  }

  absl::StatusOr<base::ScopedFd> fd = root_.OpenDirectory(request.path());
  if (!fd.ok()) return fd.status();
  // On success fdopendir owns the descriptor; on failure it stays with `fd`.
  DirStream dir(::fdopendir(fd->get()));
  if (dir == nullptr) {
    return base::PosixError(
        absl::StrCat("open directory ", Quote(request.path())), errno);
  }
  fd->Release();

  absl::StatusOr<PageOfNames> page = SelectPage(
      dir.get(), listing_cache_.get(), last_name, *page_size, request.path());
  if (!page.ok()) return page.status();
  for (const std::string& name : page->names) {
    absl::Status status =
        AppendEntry(::dirfd(dir.get()), name, request.path(), response);
    if (!status.ok()) {
      response->Clear();
      return status;
    }
  }
  // The cursor is the last name selected, even if that entry vanished: the
  // next page starts after it either way.
  if (page->more) {
    response->set_next_page_token(
        EncodePageToken(PageCursor{request.path(), page->names.back()}));
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::fileservice
