#include "dualrpc/fileservice/listing_cache.h"

#include <algorithm>

namespace dualrpc::fileservice {
namespace {

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

ListingCache::Names ListingCache::Find(const struct stat& st) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find({st.st_dev, st.st_ino});
  if (it == entries_.end()) return nullptr;
  if (!SameTime(it->second.mtime, st.st_mtim) ||
      !SameTime(it->second.ctime, st.st_ctim)) {
    total_names_ -= it->second.names->size();
    entries_.erase(it);
    return nullptr;
  }
  it->second.last_use = ++use_clock_;
  return it->second.names;
}

void ListingCache::Insert(const struct stat& st, Names names,
                          absl::Time read_started) {
  const absl::Time newest_change = std::max(absl::TimeFromTimespec(st.st_mtim),
                                            absl::TimeFromTimespec(st.st_ctim));
  if (newest_change + settle_ > read_started) return;  // Not provably stable.
  if (names->size() > max_names_) return;
  absl::MutexLock lock(&mu_);
  const Key key{st.st_dev, st.st_ino};
  if (auto old = entries_.find(key); old != entries_.end()) {
    total_names_ -= old->second.names->size();
    entries_.erase(old);
  }
  EvictUntilRoomFor(names->size());
  total_names_ += names->size();
  entries_[key] = Entry{st.st_mtim, st.st_ctim, std::move(names), ++use_clock_};
}

void ListingCache::EvictUntilRoomFor(std::size_t names) {
  while (!entries_.empty() && total_names_ + names > max_names_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    total_names_ -= oldest->second.names->size();
    entries_.erase(oldest);
  }
}

}  // namespace dualrpc::fileservice
