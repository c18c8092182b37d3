#include "dualrpc/fileservice/listing_cache.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace dualrpc::fileservice {
namespace {

struct stat Directory(ino_t inode, absl::Time changed) {
  struct stat st {};
  st.st_dev = 1;
  st.st_ino = inode;
  st.st_mtim = absl::ToTimespec(changed);
  st.st_ctim = absl::ToTimespec(changed);
  return st;
}

ListingCache::Names NamesOf(int count) {
  auto names = std::make_shared<std::vector<std::string>>();
  for (int i = 0; i < count; ++i) names->push_back(std::to_string(i));
  return names;
}

const absl::Time kChanged = absl::FromUnixSeconds(1'700'000'000);

TEST(ListingCacheTest, StoresSettledListingsUntilTheDirectoryChanges) {
  ListingCache cache(100, absl::Milliseconds(100));
  const struct stat st = Directory(7, kChanged);
  cache.Insert(st, NamesOf(3), kChanged + absl::Seconds(1));
  ListingCache::Names found = cache.Find(st);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->size(), 3u);

  struct stat touched = st;
  touched.st_ctim.tv_nsec += 1;
  EXPECT_EQ(cache.Find(touched), nullptr);
  EXPECT_EQ(cache.Find(st), nullptr) << "a stale entry is dropped";
}

TEST(ListingCacheTest, RefusesListingsReadTooSoonAfterAChange) {
  ListingCache cache(100, absl::Milliseconds(100));
  const struct stat st = Directory(7, kChanged);
  cache.Insert(st, NamesOf(3), kChanged + absl::Milliseconds(50));
  EXPECT_EQ(cache.Find(st), nullptr);
}

TEST(ListingCacheTest, EvictsLeastRecentlyUsedToStayWithinItsBound) {
  ListingCache cache(10, absl::ZeroDuration());
  const absl::Time read = kChanged + absl::Seconds(1);
  cache.Insert(Directory(1, kChanged), NamesOf(4), read);
  cache.Insert(Directory(2, kChanged), NamesOf(4), read);
  ASSERT_NE(cache.Find(Directory(1, kChanged)), nullptr);  // 1 is now newer.
  cache.Insert(Directory(3, kChanged), NamesOf(4), read);
  EXPECT_NE(cache.Find(Directory(1, kChanged)), nullptr);
  EXPECT_EQ(cache.Find(Directory(2, kChanged)), nullptr);
  EXPECT_NE(cache.Find(Directory(3, kChanged)), nullptr);

  cache.Insert(Directory(4, kChanged), NamesOf(11), read);  // Over the bound.
  EXPECT_EQ(cache.Find(Directory(4, kChanged)), nullptr);
}

}  // namespace
}  // namespace dualrpc::fileservice
