#ifndef DUALRPC_FILESERVICE_LISTING_CACHE_H_
#define DUALRPC_FILESERVICE_LISTING_CACHE_H_

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dualrpc::fileservice {

// The sorted names of recently listed directories, so that paging through a
// large directory reads it once instead of once per page (page tokens carry
// only a cursor, no server state, so without this every page re-reads the
// whole directory).
//
// An entry is keyed by the directory's (st_dev, st_ino) and is valid only
// while its st_mtim and st_ctim are exactly what they were when the stat
// preceding the read was taken: creating, removing or renaming an entry
// changes them. Timestamps come from a coarse clock (one kernel tick), so a
// change landing in the same tick as the stat could leave them unchanged;
// a listing is therefore only stored when both timestamps were at least
// `settle` older than the start of the read. Bounded by the total number of
// names held (least recently used entries go first). Thread-safe.
class ListingCache {
 public:
  using Names = std::shared_ptr<const std::vector<std::string>>;

  ListingCache(std::size_t max_names, absl::Duration settle)
      : max_names_(max_names), settle_(settle) {}

  // The names of the directory `st` describes, if stored and unchanged
  // since; nullptr otherwise.
  Names Find(const struct stat& st);

  // Stores `names` (sorted) for the directory `st` describes, as read after
  // `read_started`; see the class comment for when it declines.
  void Insert(const struct stat& st, Names names, absl::Time read_started);

  std::size_t max_names() const { return max_names_; }

 private:
  struct Entry {
    timespec mtime;
    timespec ctime;
    Names names;
    std::uint64_t last_use;
  };
  using Key = std::pair<dev_t, ino_t>;

  void EvictUntilRoomFor(std::size_t names) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::size_t max_names_;
  const absl::Duration settle_;
  absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::size_t total_names_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t use_clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_LISTING_CACHE_H_
