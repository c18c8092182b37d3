#include "dualrpc/net/buffer.h"

#include <string>

#include "gtest/gtest.h"

namespace dualrpc::raw {
namespace {

TEST(BufferTest, AppendAndRetrieveInOrder) {
  net::Buffer buffer;
  buffer.Append("hello ");
  buffer.Append("world");
  EXPECT_EQ(buffer.View(), "hello world");
  buffer.Retrieve(6);
  EXPECT_EQ(buffer.View(), "world");
  buffer.RetrieveAll();
  EXPECT_EQ(buffer.readable_bytes(), 0u);
}

TEST(BufferTest, IntegersAreBigEndian) {
  net::Buffer buffer;
  buffer.AppendUint32(0x01020304);
  buffer.AppendUint16(0x0506);
  buffer.AppendUint8(0x07);
  EXPECT_EQ(buffer.View(), std::string("\x01\x02\x03\x04\x05\x06\x07", 7));
  EXPECT_EQ(net::LoadUint32(buffer.Peek()), 0x01020304u);
  EXPECT_EQ(net::LoadUint16(buffer.Peek() + 4), 0x0506u);
}

TEST(BufferTest, PrependUsesTheRoomInFront) {
  net::Buffer buffer;
  buffer.Append("payload");
  ASSERT_GE(buffer.prependable_bytes(), 4u);
  const char length[4] = {0, 0, 0, 7};
  buffer.Prepend(length, sizeof length);
  EXPECT_EQ(buffer.View(), std::string("\0\0\0\x07payload", 11));
}

TEST(BufferTest, GrowsOnlyWithWhatIsAppended) {
  net::Buffer buffer(16);
  const std::size_t initial = buffer.capacity();
  buffer.Append(std::string(10, 'x'));
  EXPECT_EQ(buffer.capacity(), initial);
  buffer.Append(std::string(100, 'y'));
  EXPECT_GE(buffer.capacity(), net::Buffer::kCheapPrepend + 110);
  EXPECT_LE(buffer.capacity(), 2 * (net::Buffer::kCheapPrepend + 110));
  EXPECT_EQ(buffer.View(), std::string(10, 'x') + std::string(100, 'y'));
}

TEST(BufferTest, ReusesConsumedSpaceBeforeGrowing) {
  net::Buffer buffer(64);
  const std::size_t initial = buffer.capacity();
  buffer.Append(std::string(60, 'a'));
  buffer.Retrieve(50);
  buffer.Append(std::string(40, 'b'));  // Fits once the 10 left slide down.
  EXPECT_EQ(buffer.capacity(), initial);
  EXPECT_EQ(buffer.View(), std::string(10, 'a') + std::string(40, 'b'));
}

TEST(BufferTest, ReleaseIfIdleFreesLargeStorageOnceFillsAreSmallAgain) {
  net::Buffer buffer;
  buffer.Append(std::string(1 << 20, 'z'));
  buffer.ReleaseIfIdle(64 * 1024);  // Not empty: kept.
  EXPECT_GE(buffer.capacity(), 1u << 20);
  buffer.RetrieveAll();
  // The fill that just ended was large: the next one likely is too.
  buffer.ReleaseIfIdle(64 * 1024);
  EXPECT_GE(buffer.capacity(), 1u << 20);
  // Another large frame reuses the storage.
  const char* const storage = buffer.Peek();
  buffer.Append(std::string(1 << 20, 'y'));
  EXPECT_EQ(buffer.Peek(), storage);
  buffer.Retrieve(1 << 20);
  buffer.ReleaseIfIdle(64 * 1024);
  EXPECT_GE(buffer.capacity(), 1u << 20);
  // A small fill after them gives it back.
  buffer.Append("small");
  buffer.Retrieve(5);
  buffer.ReleaseIfIdle(64 * 1024);
  EXPECT_LE(buffer.capacity(),
            net::Buffer::kCheapPrepend + net::Buffer::kInitialSize);
  buffer.Append("still works");
  EXPECT_EQ(buffer.View(), "still works");
}

TEST(BufferTest, DirectWrites) {
  net::Buffer buffer;
  buffer.EnsureWritable(5);
  std::memcpy(buffer.BeginWrite(), "abcde", 5);
  buffer.HasWritten(3);
  EXPECT_EQ(buffer.View(), "abc");
}

}  // namespace
}  // namespace dualrpc::raw
