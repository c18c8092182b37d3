#ifndef DUALRPC_NET_BUFFER_H_
#define DUALRPC_NET_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "dualrpc/net/byte_order.h"

namespace dualrpc::net {

// A byte queue for socket I/O, after muduo's Buffer:
//
//   +-------------------+------------------+------------------+
//   | prependable bytes |  readable bytes  |  writable bytes  |
//   +-------------------+------------------+------------------+
//   0        <=     read_index   <=   write_index   <=   capacity
//
// Bytes are appended at the write end and consumed from the read end. Storage
// grows only when an append needs it (by what is appended, or by doubling),
// never to a size somebody merely announced. New storage is not zero-filled.
// Not thread-safe: each Buffer belongs to one connection on one loop.
class Buffer {
 public:
  // Room kept in front of the readable bytes so that a length or a frame
  // header can be prepended without moving the payload.
  static constexpr std::size_t kCheapPrepend = 16;
  static constexpr std::size_t kInitialSize = 1024;

  explicit Buffer(std::size_t initial_size = kInitialSize);
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  std::size_t readable_bytes() const { return write_index_ - read_index_; }
  std::size_t writable_bytes() const { return capacity_ - write_index_; }
  std::size_t prependable_bytes() const { return read_index_; }
  // Total storage held, for tests and memory accounting.
  std::size_t capacity() const { return capacity_; }

  const char* Peek() const { return data_.get() + read_index_; }
  absl::string_view View() const { return {Peek(), readable_bytes()}; }

  // Consumes `n` <= readable_bytes() bytes.
  void Retrieve(std::size_t n);
  void RetrieveAll();

  void Append(const void* data, std::size_t n);
  void Append(absl::string_view bytes) { Append(bytes.data(), bytes.size()); }
  void AppendUint8(std::uint8_t value) { Append(&value, 1); }
  // Network byte order (big-endian), as every integer on the wire.
  void AppendUint16(std::uint16_t value);
  void AppendUint32(std::uint32_t value);

  // Writes `n` <= prependable_bytes() bytes in front of the readable bytes.
  void Prepend(const void* data, std::size_t n);

  // Direct writes: EnsureWritable(n), write up to n bytes at BeginWrite(),
  // then HasWritten(bytes actually written).
  void EnsureWritable(std::size_t n);
  char* BeginWrite() { return data_.get() + write_index_; }
  void HasWritten(std::size_t n);

  // Frees the storage when nothing is readable, more than
  // `max_idle_capacity` bytes are held, and the fill that has just been
  // consumed stayed within `max_idle_capacity`. So one burst of large frames
  // does not pin memory once small ones follow, while a connection that
  // keeps carrying large frames keeps its storage from one to the next
  // instead of allocating (and faulting in, and regrowing by copies) a fresh
  // one per frame. What stays pinned is at most what the last frame needed,
  // which the frame limits bound. Call it whenever the buffer may have
  // become empty.
  void ReleaseIfIdle(std::size_t max_idle_capacity);
  // Drops the readable bytes and gives the storage back, keeping only a
  // fresh kInitialSize: for a connection that is closing, so that what a
  // peer made it hold is freed at once, not when the owner gets round to
  // destroying it.
  void Shrink();

 private:
  void MakeSpace(std::size_t n);

  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t read_index_ = kCheapPrepend;
  std::size_t write_index_ = kCheapPrepend;
  // Most readable bytes since the buffer was last seen empty.
  std::size_t fill_peak_ = 0;
};

}  // namespace dualrpc::net

#endif  // DUALRPC_NET_BUFFER_H_
