// ThreadCachedAllocation: a freed block serves the next allocation on the
// same thread; live objects never share a block; construction and
// destruction run as usual. HeapReleaser: freed heap inside an arena goes
// back to the kernel after the resident set grew, and not without growth.

#include "dualrpc/base/heap.h"

#include <cstring>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/sanitizers.h"
#include "testing/wait.h"

namespace dualrpc::base {
namespace {

int g_live = 0;

struct Widget final : ThreadCachedAllocation<Widget, 4> {
  Widget() { ++g_live; }
  ~Widget() { --g_live; }
  char payload[40] = {};
};

TEST(ThreadCachedAllocationTest, FreedBlockServesTheNextAllocation) {
  auto* first = new Widget;
  void* const block = first;
  delete first;
  // The heap's own next block of that size: not the freed one, which the
  // cache kept (glibc would otherwise hand the freed block straight back).
  void* const from_heap = ::operator new(sizeof(Widget));
  EXPECT_NE(from_heap, block);
  auto* second = new Widget;
  EXPECT_EQ(static_cast<void*>(second), block);
  delete second;
  ::operator delete(from_heap);
  EXPECT_EQ(g_live, 0);
}

TEST(ThreadCachedAllocationTest, CacheIsBoundedAndObjectsStayDistinct) {
  std::vector<std::unique_ptr<Widget>> widgets;
  for (int i = 0; i < 10; ++i) widgets.push_back(std::make_unique<Widget>());
  EXPECT_EQ(g_live, 10);
  // Ten live objects at once: ten distinct blocks.
  for (std::size_t i = 0; i < widgets.size(); ++i) {
    for (std::size_t j = i + 1; j < widgets.size(); ++j) {
      EXPECT_NE(widgets[i].get(), widgets[j].get());
    }
  }
  widgets.clear();  // Four are cached, six go back to the heap.
  EXPECT_EQ(g_live, 0);
}

TEST(HeapReleaserTest, GivesBackFreedPagesInsideTheHeapAfterGrowth) {
#if defined(DUALRPC_TESTING_ASAN) || defined(DUALRPC_TESTING_TSAN)
  GTEST_SKIP() << "a sanitizer's allocator is not glibc's: malloc_trim "
                  "does not apply";
#endif
  KeepFreedHeap();  // As the server runs: blocks up to 32 MiB from the heap.
  constexpr std::size_t kBlock = 64 * 1024;
  constexpr int kBlocks = 1024;  // 64 MiB.
  HeapReleaser releaser({absl::Milliseconds(20), 16 << 20});
  const std::int64_t before = ResidentBytes();
  ASSERT_GT(before, 0);
  std::vector<char*> blocks;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.push_back(static_cast<char*>(::operator new(kBlock)));
    std::memset(blocks.back(), 'x', kBlock);
  }
  // Everything but the last block freed: the free memory is inside the
  // heap, below a live block, where glibc's own trim never reaches.
  char* const pin = blocks.back();
  blocks.pop_back();
  for (char* block : blocks) ::operator delete(block);
  EXPECT_TRUE(dualrpc_testing::Eventually(
      [&] {
        return releaser.releases() >= 1 &&
               ResidentBytes() < before + (32 << 20);
      },
      absl::Seconds(10)))
      << "resident " << (ResidentBytes() >> 20) << " MiB, before "
      << (before >> 20) << " MiB, releases " << releaser.releases();
  // No growth since (once a release that raced with the frees has been
  // followed by the one they call for): no further release, however many
  // intervals pass.
  absl::SleepFor(absl::Milliseconds(200));
  const int releases = releaser.releases();
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(releaser.releases(), releases);
  ::operator delete(pin);
}

TEST(HeapReleaserTest, StopsPromptlyWithALongInterval) {
  const absl::Time start = absl::Now();
  { HeapReleaser releaser({absl::Hours(1), 16 << 20}); }
  // Not a timing claim: the destructor does not wait for the interval.
  EXPECT_LT(absl::Now() - start, absl::Minutes(1));
}

}  // namespace
}  // namespace dualrpc::base
