#include "dualrpc/net/buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace dualrpc::net {

Buffer::Buffer(std::size_t initial_size)
    : data_(new char[kCheapPrepend + initial_size]),
      capacity_(kCheapPrepend + initial_size) {}

void Buffer::Retrieve(std::size_t n) {
  assert(n <= readable_bytes());
  if (n < readable_bytes()) {
    read_index_ += n;
  } else {
    RetrieveAll();
  }
}

void Buffer::RetrieveAll() {
  read_index_ = kCheapPrepend;
  write_index_ = kCheapPrepend;
}

void Buffer::Append(const void* data, std::size_t n) {
  if (n == 0) return;  // `data` may be null then (an empty string_view).
  EnsureWritable(n);
  std::memcpy(BeginWrite(), data, n);
  write_index_ += n;
  fill_peak_ = std::max(fill_peak_, readable_bytes());
}

void Buffer::AppendUint16(std::uint16_t value) {
  char bytes[2];
  StoreUint16(bytes, value);
  Append(bytes, sizeof bytes);
}

void Buffer::AppendUint32(std::uint32_t value) {
  char bytes[4];
  StoreUint32(bytes, value);
  Append(bytes, sizeof bytes);
}

void Buffer::Prepend(const void* data, std::size_t n) {
  assert(n <= prependable_bytes());
  read_index_ -= n;
  std::memcpy(data_.get() + read_index_, data, n);
}

void Buffer::EnsureWritable(std::size_t n) {
  if (writable_bytes() < n) MakeSpace(n);
}

void Buffer::HasWritten(std::size_t n) {
  assert(n <= writable_bytes());
  write_index_ += n;
  fill_peak_ = std::max(fill_peak_, readable_bytes());
}

void Buffer::ReleaseIfIdle(std::size_t max_idle_capacity) {
  if (readable_bytes() != 0) return;
  const bool large_fill = fill_peak_ > max_idle_capacity;
  fill_peak_ = 0;
  if (large_fill || capacity_ <= max_idle_capacity) return;
  data_.reset(new char[kCheapPrepend + kInitialSize]);
  capacity_ = kCheapPrepend + kInitialSize;
  RetrieveAll();
}

void Buffer::Shrink() {
  fill_peak_ = 0;
  RetrieveAll();
  if (capacity_ <= kCheapPrepend + kInitialSize) return;
  data_.reset(new char[kCheapPrepend + kInitialSize]);
  capacity_ = kCheapPrepend + kInitialSize;
}

void Buffer::MakeSpace(std::size_t n) {
  const std::size_t readable = readable_bytes();
  if (writable_bytes() + prependable_bytes() >= n + kCheapPrepend) {
    // Enough room overall: slide the readable bytes to the front.
    std::memmove(data_.get() + kCheapPrepend, Peek(), readable);
  } else {
    const std::size_t needed = kCheapPrepend + readable + n;
    const std::size_t new_capacity = std::max(capacity_ * 2, needed);
    std::unique_ptr<char[]> bigger(new char[new_capacity]);
    std::memcpy(bigger.get() + kCheapPrepend, Peek(), readable);
    data_ = std::move(bigger);
    capacity_ = new_capacity;
  }
  read_index_ = kCheapPrepend;
  write_index_ = kCheapPrepend + readable;
}

}  // namespace dualrpc::net
