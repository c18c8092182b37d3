// ThreadCachedAllocation: a freed block serves the next allocation on the
// same thread; live objects never share a block; construction and
// destruction run as usual.

#include "dualrpc/base/heap.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace dualrpc::base
