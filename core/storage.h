#pragma once
// A block of device memory shared by a tensor and all its views. It either owns
// memory from an Allocator or borrows an external buffer kept alive by `owner`
// (an mmap'd file, say).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <tern/core/allocator.h>
#include <tern/core/device.h>

namespace tern {

class Storage {
 public:
  // Allocates nbytes on `device` through that device's backend allocator.
  Storage(size_t nbytes, Device device);
  // Borrows `data`; `owner` (may be null) keeps it alive as long as this storage lives.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write so that autograd can detect a saved tensor
  // that changed before backward used it.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // null when borrowed
  std::shared_ptr<void> owner_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace tern
