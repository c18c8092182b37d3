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
#include "dualrpc/fileservice/directory_entries.h"
#include "dualrpc/fileservice/page_token.h"
#include "google/protobuf/io/coded_stream.h"

namespace dualrpc::fileservice {
namespace {

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

// One page of names, ascending by bytes, and whether more names follow it.
struct PageOfNames {
  std::vector<std::string> names;
  bool more = false;
};

// What a length-delimited field of `length` bytes with a one-byte tag (every
// ListDirectoryResponse field) takes on the wire.
std::size_t FieldBytes(std::size_t length) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(length) +
         length;
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

// Describes `page`'s names in `dir_fd` into `*response`, as many as fit in
// `limit` bytes (0: no limit). Returns the name the next page starts after,
// or null when the listing ends with this page.
// Entries are added while the response, with the token that would follow
// the entry, stays within `limit`; the sizes are the exact wire sizes (tag,
// length, bytes) of each entry and of the token, so their sum is
// response->ByteSizeLong() once the token is set.
absl::StatusOr<const std::string*> FillPage(
    int dir_fd, const PageOfNames& page, absl::string_view request_path,
    std::size_t limit, v1::ListDirectoryResponse* response) {
  std::size_t entries_bytes = 0;
  // The last name sent: the next page starts after it. Names after it that
  // vanished are looked at again there, and skipped again.
  const std::string* last_sent = nullptr;
  for (std::size_t i = 0; i < page.names.size(); ++i) {
    const std::string& name = page.names[i];
    // An entry that vanished since readdir is skipped: not an error.
    v1::DirectoryEntry entry;
    absl::StatusOr<bool> found =
        StatEntry(dir_fd, name, request_path, &entry);
    if (!found.ok()) return found.status();
    if (!*found) continue;
    const bool ends_listing = !page.more && i + 1 == page.names.size();
    const std::size_t entry_bytes = FieldBytes(entry.ByteSizeLong());
    const std::size_t token_bytes =
        ends_listing ? 0
                     : FieldBytes(EncodedPageTokenSize(request_path, name));
    if (limit != 0 && entries_bytes + entry_bytes + token_bytes > limit) {
      if (last_sent == nullptr) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "directory entry ", Quote(name), " in ", Quote(request_path),
            " needs ", entry_bytes + token_bytes, " bytes encoded (",
            entry_bytes, " with ", token_bytes,
            " for its page token), over the message limit of ", limit,
            " bytes: it cannot be listed"));
      }
      return last_sent;
    }
    entries_bytes += entry_bytes;
    *response->add_entries() = std::move(entry);
    last_sent = &name;
  }
  if (!page.more) return nullptr;
  // When every entry selected vanished, the listing still moves on: after
  // the last name selected.
  return last_sent != nullptr ? last_sent : &page.names.back();
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

absl::StatusOr<TreeWalker> FileServiceCore::StartWalk(
    const v1::WalkTreeRequest& request) const {
  return TreeWalker::Start(root_, request, options_.walk);
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
  absl::StatusOr<const std::string*> cursor =
      FillPage(::dirfd(dir.get()), *page, request.path(),
               options_.max_response_bytes, response);
  if (!cursor.ok()) {
    response->Clear();
    return cursor.status();
  }
  if (*cursor != nullptr) {
    response->set_next_page_token(
        EncodePageToken(PageCursor{request.path(), **cursor}));
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::fileservice
